/**
 * The PowerShell the Hyper-V driver runs, each as `powershell.exe -NoProfile -NonInteractive -Command
 * <script>`. Scripts are one line of statements and hold no double quote: powershell.exe and the
 * Windows command line disagree on how to escape one. Each first sets a UTF-8 console encoding, so that
 * localized captions and VM names reach the agent intact instead of in the console's OEM code page, and
 * silences progress records, which would otherwise reach stderr beside the error records.
 */

const PRELUDE =
  "$ProgressPreference = 'SilentlyContinue'; [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false";
const VMMS = "(Join-Path $env:SystemRoot 'System32\\vmms.exe')";

const script = (...statements: string[]) => statements.join('; ');

/** The exit code of the list script on a host whose PowerShell has no Hyper-V module (Get-VM). */
export const NO_GET_VM_EXIT_CODE = 3;

/** Prints "vmms" when the Hyper-V management service is installed, "vmms.exe" when only its program is. */
export const DETECT_SCRIPT = script(
  `if (Get-Service -Name vmms -ErrorAction SilentlyContinue) { 'vmms' } elseif (Test-Path -LiteralPath ${VMMS}) { 'vmms.exe' }`,
);

/**
 * Win32_OperatingSystem and the vmms.exe version, as `Name=Value` lines (parse.ts parseHostInfo): not
 * JSON, because it also runs on the PowerShell 2.0 of Windows Server 2008 R2, which has no ConvertTo-Json.
 */
export const HOST_SCRIPT = script(
  PRELUDE,
  '$os = Get-WmiObject -Class Win32_OperatingSystem',
  `$vmms = Get-Item -LiteralPath ${VMMS} -ErrorAction SilentlyContinue`,
  "foreach ($p in 'Caption','Version','BuildNumber','ProductType','OSLanguage') { $p + '=' + $os.$p }",
  "'VmmsVersion=' + $vmms.VersionInfo.ProductVersion",
);

/**
 * Every VM from Get-VM, and the BIOSGUID of each from its realized Msvm_VirtualSystemSettingData
 * (snapshots and planned VMs are other types), as one JSON object (parse.ts parseVmList). Get-VM is called
 * through its module because VMware PowerCLI has a Get-VM of its own. State is written as its enum
 * name and the VM id as text: ConvertTo-Json would write the first as a number and the second as an object.
 * Exits with NO_GET_VM_EXIT_CODE where the Hyper-V module is missing (2008 and 2008 R2).
 */
export const LIST_SCRIPT = script(
  PRELUDE,
  `if (-not (Get-Command -Module Hyper-V -Name Get-VM -ErrorAction SilentlyContinue)) { exit ${NO_GET_VM_EXIT_CODE} }`,
  "$vms = @(Hyper-V\\Get-VM | Select-Object -Property Name, @{n='Id';e={[string]$_.VMId}}, @{n='State';e={[string]$_.State}}, Generation, Version, ProcessorCount, MemoryStartup, @{n='IntegrationServicesVersion';e={[string]$_.IntegrationServicesVersion}}, @{n='IntegrationServicesState';e={[string]$_.IntegrationServicesState}})",
  "$settings = @(Get-CimInstance -Namespace root\\virtualization\\v2 -ClassName Msvm_VirtualSystemSettingData -Filter 'VirtualSystemType = ''Microsoft:Hyper-V:System:Realized''' | Select-Object -Property VirtualSystemIdentifier, BIOSGUID)",
  'ConvertTo-Json -InputObject @{ vms = $vms; settings = $settings } -Depth 3 -Compress',
);

/**
 * The names of the computer systems that exist now (to tell a VM that went away since the list from one
 * whose guest is silent) and every VM's KVP intrinsic items, as one JSON object (parse.ts parseKvpDetail).
 */
export const KVP_SCRIPT = script(
  PRELUDE,
  '$systems = @(Get-CimInstance -Namespace root\\virtualization\\v2 -ClassName Msvm_ComputerSystem | ForEach-Object { $_.Name })',
  '$kvp = @(Get-CimInstance -Namespace root\\virtualization\\v2 -ClassName Msvm_KvpExchangeComponent | Select-Object -Property SystemName, GuestIntrinsicExchangeItems)',
  'ConvertTo-Json -InputObject @{ systems = $systems; kvp = $kvp } -Depth 4 -Compress',
);

/**
 * One root\virtualization class, printed in the layout of `wmic ... get /format:list` (parse.ts
 * parseWmiList): PowerShell 2.0 has no ConvertTo-Json, and wmic's output encoding, unlike PowerShell's,
 * cannot be set.
 * An array property gives one line per element; line breaks inside a value become spaces.
 */
function legacyQuery(className: string, properties: string[], filter?: string): string {
  const where = filter ? ` -Filter '${filter}'` : '';
  const names = properties.map((p) => `'${p}'`).join(',');
  return script(
    PRELUDE,
    `Get-WmiObject -Namespace root\\virtualization -Class ${className}${where} -Property ${properties.join(',')} | ForEach-Object { ''; $o = $_; foreach ($p in ${names}) { foreach ($v in @($o.$p)) { $p + '=' + ([string]$v -replace '\\r?\\n', ' ') } } }`,
  );
}

/** The queries of a host without Get-VM (2008, 2008 R2): the root\virtualization (v1) namespace. */
export const LEGACY_SCRIPTS = {
  systems: legacyQuery('Msvm_ComputerSystem', ['ElementName', 'EnabledState', 'Name', 'InstallDate']),
  memory: legacyQuery('Msvm_MemorySettingData', ['InstanceID', 'VirtualQuantity']),
  processors: legacyQuery('Msvm_ProcessorSettingData', ['InstanceID', 'VirtualQuantity']),
  // SettingType 3 is a VM's current settings; 5 would be its snapshots.
  settings: legacyQuery('Msvm_VirtualSystemSettingData', ['SystemName', 'BIOSGUID'], 'SettingType = 3'),
  kvp: legacyQuery('Msvm_KvpExchangeComponent', ['SystemName', 'GuestIntrinsicExchangeItems']),
} as const;

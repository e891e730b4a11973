/**
 * Installing on a Windows (Hyper-V) host through OpenSSH Server: every command is a Windows
 * PowerShell 5.1 script passed with -EncodedCommand, so it runs the same whether the server's default
 * shell is cmd.exe or PowerShell, with no quoting through either. Files go over SFTP. The agent runs
 * from a scheduled task at startup as SYSTEM (Node.js is no service binary, and the Hyper-V WMI
 * classes need an administrator), inside a small restart loop (supervise.cmd).
 */
import { MIN_NODE_MAJOR } from './bundle.js';
import { InstallError } from './errors.js';
import { nodeMajor, parseInspection } from './linux.js';
import {
  agentRunArgs,
  type ExecResult,
  type HostPlan,
  type Inspection,
  type InstallSettings,
  type Manifest,
  manifestText,
  type Step,
} from './plan.js';

export interface WindowsFacts {
  caption: string;
  version: string;
  build: string;
  user: string;
  admin: boolean;
  node: { path: string; version: string | null } | null;
  /** Status of the Hyper-V Virtual Machine Management service (vmms), null when absent. */
  hyperv: string | null;
  programData: string;
}

export const TASK_NAME = 'hvmap-agent';
export const TASK_PATH = '\\hvmap\\';
const PROBE_MARK = 'hvmap-windows';

/** Quotes a string for PowerShell (single quotes: no expansion). */
export function psq(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The command line that runs `script` in Windows PowerShell, whatever the SSH server's shell. */
export function powershell(script: string): string {
  const encoded = Buffer.from(script, 'utf16le').toString('base64');
  return `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ${encoded}`;
}

/** The script inside a command built by powershell(); tests read the plans through it. */
export function decodePowershell(command: string): string | null {
  const m = /-EncodedCommand (\S+)$/.exec(command);
  return m ? Buffer.from(m[1], 'base64').toString('utf16le') : null;
}

/** The SFTP path of a Windows path (`C:\x\y` → `/C:/x/y`), as Win32-OpenSSH's sftp-server takes it. */
export function sftpPath(windowsPath: string): string {
  return `/${windowsPath.replace(/\\/g, '/')}`;
}

export function windowsProbe(remoteNode?: string): Step {
  const script = [
    "$ErrorActionPreference = 'Stop'",
    '$os = Get-CimInstance -ClassName Win32_OperatingSystem',
    '$id = [Security.Principal.WindowsIdentity]::GetCurrent()',
    remoteNode
      ? `$nodePath = if (Test-Path -LiteralPath ${psq(remoteNode)}) { ${psq(remoteNode)} } else { $null }`
      : '$nodePath = (Get-Command -Name node.exe -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source',
    '$nodeVersion = $null',
    'if ($nodePath) { try { $nodeVersion = (& $nodePath --version) -join "" } catch { } }',
    '$vmms = Get-Service -Name vmms -ErrorAction SilentlyContinue',
    '[pscustomobject]@{',
    `  probe = '${PROBE_MARK}'`,
    '  caption = $os.Caption',
    '  version = $os.Version',
    '  build = $os.BuildNumber',
    '  user = $id.Name',
    '  admin = ([Security.Principal.WindowsPrincipal]$id).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)',
    '  node = $nodePath',
    '  nodeVersion = $nodeVersion',
    '  hyperv = if ($vmms) { [string]$vmms.Status } else { $null }',
    '  programData = $env:ProgramData',
    '} | ConvertTo-Json -Compress',
  ].join('\n');
  return { kind: 'exec', name: 'probe-windows', command: powershell(script) };
}

/** Reads the probe's JSON line; null when PowerShell did not answer it. */
export function parseWindowsProbe(stdout: string): WindowsFacts | null {
  for (const line of stdout.split(/\r?\n/)) {
    if (!line.trim().startsWith('{')) continue;
    try {
      const p = JSON.parse(line) as Record<string, unknown>;
      if (p.probe !== PROBE_MARK) continue;
      const str = (v: unknown) => (typeof v === 'string' ? v : '');
      return {
        caption: str(p.caption),
        version: str(p.version),
        build: str(p.build),
        user: str(p.user),
        admin: p.admin === true,
        node: str(p.node) ? { path: str(p.node), version: str(p.nodeVersion) || null } : null,
        hyperv: str(p.hyperv) || null,
        programData: str(p.programData) || 'C:\\ProgramData',
      };
    } catch {
      // Not the probe's line.
    }
  }
  return null;
}

/** Checks a Windows install prefix: a drive path of plain characters (it ends up in cmd and task lines). */
export function checkWindowsPrefix(prefix: string): string {
  const p = prefix.replace(/[\\/]+$/, '').replace(/\//g, '\\');
  if (!/^[A-Za-z]:\\[A-Za-z0-9._+\\-]+$/.test(p) || /\\\.\.?(\\|$)/.test(p)) {
    throw new InstallError(
      'PREFIX_INVALID',
      `--prefix ${prefix} must be a path like C:\\ProgramData\\hvmap-agent (letters, digits, . _ + -)`,
    );
  }
  if (/^[A-Za-z]:\\(Windows|Program Files|ProgramData|Users)$/i.test(p)) {
    throw new InstallError('PREFIX_INVALID', `--prefix ${prefix} is a system directory; give a directory of its own`);
  }
  return p;
}

export function windowsPlan(
  facts: WindowsFacts,
  options: { prefix?: string; purpose: 'install' | 'uninstall'; host: string },
): HostPlan {
  if (!facts.admin) {
    throw new InstallError(
      'NOT_PRIVILEGED',
      `${facts.user} is not an administrator on ${options.host}: registering the agent's scheduled task (it runs as SYSTEM) needs one`,
    );
  }
  if (options.purpose === 'install') {
    if (!facts.node) {
      throw new InstallError(
        'NODE_MISSING',
        `no node.exe on ${options.host} (not on ${facts.user}'s PATH): install Node.js ${MIN_NODE_MAJOR} or newer (nodejs.org MSI, or winget install OpenJS.NodeJS.LTS), or pass --remote-node PATH`,
      );
    }
    const major = nodeMajor(facts.node.version);
    if (major === null || major < MIN_NODE_MAJOR) {
      throw new InstallError(
        'NODE_TOO_OLD',
        `Node.js at ${facts.node.path} on ${options.host} is ${facts.node.version ?? 'not runnable'}; the agent needs ${MIN_NODE_MAJOR} or newer`,
      );
    }
  }
  return new WindowsPlan(facts, checkWindowsPrefix(options.prefix ?? `${facts.programData}\\hvmap-agent`));
}

/** Quotes a value for a .cmd file line: in double quotes, with % doubled. */
function cmdq(text: string): string {
  if (text.includes('"'))
    throw new InstallError('PREFIX_INVALID', `a value written to supervise.cmd holds a double quote: ${text}`);
  return `"${text.replace(/%/g, '%%')}"`;
}

class WindowsPlan implements HostPlan {
  readonly os = 'windows';
  readonly summary: string;
  private readonly paths;

  constructor(
    private readonly facts: WindowsFacts,
    readonly prefix: string,
  ) {
    this.paths = {
      packageJson: `${prefix}\\package.json`,
      script: `${prefix}\\dist\\hvmap-agent.js`,
      supervisor: `${prefix}\\bin\\supervise.cmd`,
      token: `${prefix}\\agent.token`,
      ca: `${prefix}\\ca.crt`,
      manifest: `${prefix}\\install.json`,
      state: `${prefix}\\state`,
      log: `${prefix}\\agent.log`,
    };
    const hv = facts.hyperv ? `Hyper-V ${facts.hyperv.toLowerCase()}` : 'no Hyper-V service';
    this.summary = `${facts.caption} (build ${facts.build}), ${hv}, node ${facts.node?.version ?? '-'}, scheduled task ${TASK_PATH}${TASK_NAME} as SYSTEM`;
  }

  private exec(name: string, lines: string[]): Step {
    return { kind: 'exec', name, command: powershell(["$ErrorActionPreference = 'Stop'", ...lines].join('\n')) };
  }

  inspect(): Step {
    const p = psq(this.prefix);
    return this.exec('inspect', [
      `if (Test-Path -LiteralPath ${psq(this.paths.manifest)}) { 'state=installed'; Get-Content -Raw -LiteralPath ${psq(this.paths.manifest)} }`,
      `elseif ((Test-Path -LiteralPath ${p}) -and (Get-ChildItem -Force -LiteralPath ${p} | Select-Object -First 1)) { 'state=foreign'; (Get-ChildItem -Force -LiteralPath ${p} | Select-Object -First 5).Name }`,
      "else { 'state=absent' }",
    ]);
  }

  parseInspect(result: ExecResult): Inspection {
    return parseInspection(result, this.prefix);
  }

  stage(settings: InstallSettings): { steps: Step[]; manifest: Manifest } {
    const files: { path: string; content: Buffer }[] = [
      { path: this.paths.packageJson, content: settings.bundle.packageJson },
      { path: this.paths.script, content: settings.bundle.script },
      { path: this.paths.supervisor, content: Buffer.from(this.supervisor(settings)) },
    ];
    if (settings.caPem !== undefined) files.push({ path: this.paths.ca, content: Buffer.from(settings.caPem) });
    if (settings.token !== undefined)
      files.push({ path: this.paths.token, content: Buffer.from(`${settings.token}\r\n`) });
    const manifest: Manifest = {
      product: 'hvmap-agent',
      version: settings.bundle.version,
      installedAt: settings.now,
      tokenName: settings.tokenName,
      collector: settings.collectorUrl,
      service: 'scheduled-task',
      user: 'SYSTEM',
      createdUser: false,
      prefix: this.prefix,
      files: [
        ...files.map((f) => f.path),
        ...(settings.token === undefined ? [this.paths.token] : []),
        this.paths.manifest,
      ],
    };
    files.push({ path: this.paths.manifest, content: manifestText(manifest) });
    const p = psq(this.prefix);
    const prepare = this.exec('prepare', [
      `New-Item -ItemType Directory -Force -Path ${p}, ${psq(`${this.prefix}\\dist`)}, ${psq(`${this.prefix}\\bin`)}, ${psq(this.paths.state)} | Out-Null`,
      // The token and the state are for SYSTEM (the task) and Administrators only; files inherit this.
      `& icacls.exe ${p} /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null`,
      `if ($LASTEXITCODE -ne 0) { throw ('icacls could not restrict ' + ${p}) }`,
    ]);
    const uploads: Step[] = files.map((f) => ({
      kind: 'upload',
      name: `upload ${f.path}`,
      path: sftpPath(`${f.path}.new`),
      content: f.content,
    }));
    return { steps: [prepare, ...uploads], manifest };
  }

  private supervisor(settings: InstallSettings): string {
    const args = agentRunArgs(this.facts.node?.path ?? 'node.exe', this.paths, settings);
    const log = cmdq(this.paths.log);
    return [
      '@echo off',
      'rem Written by hvmap install: runs the agent and restarts it 5 s after it exits (the scheduled task starts this).',
      `cd /d ${cmdq(this.prefix)}`,
      ':loop',
      `for %%A in (${log}) do if %%~zA GTR 5000000 move /y ${log} ${cmdq(`${this.paths.log}.1`)} >nul`,
      `${args.map(cmdq).join(' ')} >> ${log} 2>&1`,
      'rem ping is the sleep that works without a console (timeout.exe refuses redirected input).',
      'ping -n 6 127.0.0.1 >nul',
      'goto loop',
      '',
    ].join('\r\n');
  }

  /** Stops the task and whatever still runs from the prefix (the task's stop ends cmd.exe, not node.exe). */
  private stopLines(): string[] {
    return [
      `$task = Get-ScheduledTask -TaskName ${psq(TASK_NAME)} -TaskPath ${psq(TASK_PATH)} -ErrorAction SilentlyContinue`,
      'if ($task) { Stop-ScheduledTask -InputObject $task }',
      "Get-CimInstance -ClassName Win32_Process -Filter \"Name = 'node.exe' OR Name = 'cmd.exe'\" |",
      `  Where-Object { $_.CommandLine -and $_.CommandLine.Contains(${psq(`${this.prefix}\\`)}) } |`,
      '  ForEach-Object { Invoke-CimMethod -InputObject $_ -MethodName Terminate | Out-Null }',
    ];
  }

  private startLines(): string[] {
    return [
      `$action = New-ScheduledTaskAction -Execute "$env:SystemRoot\\System32\\cmd.exe" -Argument ${psq(`/d /c "${this.paths.supervisor}"`)}`,
      '$trigger = New-ScheduledTaskTrigger -AtStartup',
      "$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest",
      '$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) -StartWhenAvailable -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew',
      `Register-ScheduledTask -TaskName ${psq(TASK_NAME)} -TaskPath ${psq(TASK_PATH)} -Action $action -Trigger $trigger -Principal $principal -Settings $settings -Description 'hvmap agent, installed by hvmap install' -Force | Out-Null`,
      `Start-ScheduledTask -TaskName ${psq(TASK_NAME)} -TaskPath ${psq(TASK_PATH)}`,
    ];
  }

  activate(manifest: Manifest): Step {
    return this.exec('activate', [
      ...this.stopLines(),
      // Files without a staged copy (a token kept on upgrade) stay as they are.
      `foreach ($f in @(${manifest.files.map(psq).join(', ')})) {`,
      '  if (Test-Path -LiteralPath "$f.new") {',
      '    if (Test-Path -LiteralPath $f) { Move-Item -Force -LiteralPath $f -Destination "$f.prev" }',
      '    Move-Item -Force -LiteralPath "$f.new" -Destination $f',
      '  }',
      '}',
      ...this.startLines(),
    ]);
  }

  commit(manifest: Manifest, previous?: Manifest): Step {
    const obsolete = (previous?.files ?? []).filter((f) => !manifest.files.includes(f));
    return this.exec('commit', [
      `foreach ($f in @(${[...manifest.files.map((f) => `${f}.prev`), ...obsolete].map(psq).join(', ')})) { Remove-Item -Force -LiteralPath $f -ErrorAction SilentlyContinue }`,
    ]);
  }

  rollback(manifest: Manifest, previous?: Manifest): Step {
    if (!previous) return this.exec('rollback', [...this.stopLines(), ...this.removeLines()]);
    const added = manifest.files.filter((f) => !previous.files.includes(f));
    return this.exec('rollback', [
      ...this.stopLines(),
      `foreach ($f in @(${manifest.files.map(psq).join(', ')})) {`,
      '  Remove-Item -Force -LiteralPath "$f.new" -ErrorAction SilentlyContinue',
      '  if (Test-Path -LiteralPath "$f.prev") { Move-Item -Force -LiteralPath "$f.prev" -Destination $f }',
      '}',
      ...(added.length
        ? [`Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath ${added.map(psq).join(', ')}`]
        : []),
      ...this.startLines(),
    ]);
  }

  private removeLines(): string[] {
    const p = psq(this.prefix);
    return [
      `Unregister-ScheduledTask -TaskName ${psq(TASK_NAME)} -TaskPath ${psq(TASK_PATH)} -Confirm:$false -ErrorAction SilentlyContinue`,
      `if (Test-Path -LiteralPath ${p}) { Remove-Item -Recurse -Force -LiteralPath ${p} }`,
      '$left = @()',
      `if (Test-Path -LiteralPath ${p}) { $left += ${p} }`,
      `if (Get-ScheduledTask -TaskName ${psq(TASK_NAME)} -TaskPath ${psq(TASK_PATH)} -ErrorAction SilentlyContinue) { $left += 'scheduled task ${TASK_PATH}${TASK_NAME}' }`,
      "if ($left) { [Console]::Error.WriteLine('still there: ' + ($left -join ', ')); exit 1 }",
    ];
  }

  diagnose(): Step {
    const log = psq(this.paths.log);
    return this.exec('diagnose', [`if (Test-Path -LiteralPath ${log}) { Get-Content -Tail 20 -LiteralPath ${log} }`]);
  }

  uninstall(): Step {
    return this.exec('uninstall', [...this.stopLines(), ...this.removeLines()]);
  }
}

/**
 * The demo fleet's KVM hosts: libvirt test-driver node files (the real `virsh` reads them) and the
 * host's /etc/os-release, plus a timeline of changes an operator would see in a real estate.
 * Guest definitions follow the shape virt-install writes (virt-manager tests/data/cli/compare).
 */

export interface DemoGuest {
  name: string;
  uuid: string;
  /** libosinfo id as virt-install records it; absent for a guest nobody described. */
  osinfo?: string;
  memoryMiB: number;
  vcpus: number;
  running: boolean;
  firmware?: 'efi';
}

export interface DemoHost {
  name: string;
  osRelease: string;
  guests: DemoGuest[];
}

const RHEL_92 = `NAME="Red Hat Enterprise Linux"
VERSION="9.2 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.2"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.2 (Plow)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
`;

const RHEL_86 = `NAME="Red Hat Enterprise Linux"
VERSION="8.6 (Ootpa)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.6"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Red Hat Enterprise Linux 8.6 (Ootpa)"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:redhat:enterprise_linux:8::baseos"
HOME_URL="https://www.redhat.com/"
`;

/** The fleet at the start of the demo. */
export function initialFleet(): DemoHost[] {
  return [
    {
      name: 'kvm-01',
      osRelease: RHEL_92,
      guests: [
        {
          name: 'rhel9-web01',
          uuid: 'a3c1f0e2-5b6d-4e8f-9a01-2b3c4d5e6f01',
          osinfo: 'http://redhat.com/rhel/9.2',
          memoryMiB: 4096,
          vcpus: 2,
          running: true,
        },
        {
          name: 'win2019-dc01',
          uuid: 'a3c1f0e2-5b6d-4e8f-9a01-2b3c4d5e6f02',
          osinfo: 'http://microsoft.com/win/2k19',
          memoryMiB: 8192,
          vcpus: 4,
          running: true,
          firmware: 'efi',
        },
        {
          name: 'ubuntu2204-ci',
          uuid: 'a3c1f0e2-5b6d-4e8f-9a01-2b3c4d5e6f03',
          osinfo: 'http://ubuntu.com/ubuntu/22.04',
          memoryMiB: 4096,
          vcpus: 4,
          running: true,
        },
        {
          name: 'centos7-legacy',
          uuid: 'a3c1f0e2-5b6d-4e8f-9a01-2b3c4d5e6f04',
          osinfo: 'http://centos.org/centos/7.0',
          memoryMiB: 2048,
          vcpus: 1,
          running: false,
        },
        { name: 'appliance-x', uuid: 'a3c1f0e2-5b6d-4e8f-9a01-2b3c4d5e6f05', memoryMiB: 1024, vcpus: 1, running: true },
      ],
    },
    {
      name: 'kvm-02',
      osRelease: RHEL_86,
      guests: [
        {
          name: 'rhel8-db01',
          uuid: 'b7d2e1f3-6c7e-4f90-8b12-3c4d5e6f7a01',
          osinfo: 'http://redhat.com/rhel/8.6',
          memoryMiB: 16384,
          vcpus: 8,
          running: true,
        },
        {
          name: 'win2k8r2-app',
          uuid: 'b7d2e1f3-6c7e-4f90-8b12-3c4d5e6f7a02',
          osinfo: 'http://microsoft.com/win/2k8r2',
          memoryMiB: 4096,
          vcpus: 2,
          running: true,
        },
        {
          name: 'win2022-fs01',
          uuid: 'b7d2e1f3-6c7e-4f90-8b12-3c4d5e6f7a03',
          osinfo: 'http://microsoft.com/win/2k22',
          memoryMiB: 8192,
          vcpus: 4,
          running: true,
          firmware: 'efi',
        },
        {
          name: 'rhel7-batch',
          uuid: 'b7d2e1f3-6c7e-4f90-8b12-3c4d5e6f7a04',
          osinfo: 'http://redhat.com/rhel/7.9',
          memoryMiB: 4096,
          vcpus: 2,
          running: true,
        },
      ],
    },
  ];
}

export interface DemoStep {
  describe: string;
  apply(fleet: DemoHost[]): void;
}

const host = (fleet: DemoHost[], name: string) => {
  const h = fleet.find((x) => x.name === name);
  if (!h) throw new Error(`demo host ${name} missing`);
  return h;
};

/** Changes applied one per step, in a loop, so the map keeps moving while one watches. */
export const TIMELINE: DemoStep[] = [
  {
    describe: 'kvm-02: a new guest rhel9-app02 (RHEL 9.2) appears',
    apply: (fleet) => {
      host(fleet, 'kvm-02').guests.push({
        name: 'rhel9-app02',
        uuid: 'b7d2e1f3-6c7e-4f90-8b12-3c4d5e6f7a05',
        osinfo: 'http://redhat.com/rhel/9.2',
        memoryMiB: 4096,
        vcpus: 2,
        running: true,
      });
    },
  },
  {
    describe: 'kvm-02: win2k8r2-app is upgraded in place to Windows Server 2019',
    apply: (fleet) => {
      const g = host(fleet, 'kvm-02').guests.find((x) => x.name === 'win2k8r2-app');
      if (g) g.osinfo = 'http://microsoft.com/win/2k19';
    },
  },
  {
    describe: 'kvm-01: ubuntu2204-ci is deleted',
    apply: (fleet) => {
      const h = host(fleet, 'kvm-01');
      h.guests = h.guests.filter((x) => x.name !== 'ubuntu2204-ci');
    },
  },
  {
    describe: 'kvm-01: centos7-legacy is started',
    apply: (fleet) => {
      const g = host(fleet, 'kvm-01').guests.find((x) => x.name === 'centos7-legacy');
      if (g) g.running = true;
    },
  },
];

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A node file for libvirt's test driver: every guest as a KVM domain, stopped ones via test:runstate. */
export function nodeXml(host: DemoHost): string {
  const domains = host.guests.map((g) => {
    const metadata = g.osinfo
      ? `
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="${escapeXml(g.osinfo)}"/>
    </libosinfo:libosinfo>
  </metadata>`
      : '';
    // test:runstate 5 is VIR_DOMAIN_SHUTOFF in libvirt's test driver.
    const runstate = g.running ? '' : '\n  <test:runstate>5</test:runstate>';
    return `<domain type="kvm" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
  <name>${escapeXml(g.name)}</name>
  <uuid>${g.uuid}</uuid>${metadata}
  <memory unit="MiB">${g.memoryMiB}</memory>
  <currentMemory unit="MiB">${g.memoryMiB}</currentMemory>
  <vcpu>${g.vcpus}</vcpu>
  <os${g.firmware ? ` firmware="${g.firmware}"` : ''}>
    <type arch="x86_64" machine="pc-q35-7.2">hvm</type>
    <boot dev="hd"/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode="host-passthrough"/>
  <clock offset="utc"/>
  <devices>
    <emulator>/usr/libexec/qemu-kvm</emulator>
    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2"/>
      <source file="/var/lib/libvirt/images/${escapeXml(g.name)}.qcow2"/>
      <target dev="vda" bus="virtio"/>
    </disk>
    <channel type="unix">
      <source mode="bind"/>
      <target type="virtio" name="org.qemu.guest_agent.0"/>
    </channel>
  </devices>${runstate}
</domain>`;
  });
  return `<node>\n${domains.join('\n')}\n</node>\n`;
}

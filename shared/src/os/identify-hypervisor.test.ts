import { describe, expect, it } from 'vitest';
import type { Hypervisor } from '../protocol.js';
import { identifyHypervisor, identifyHypervisorText } from './identify-hypervisor.js';

describe('identifyHypervisorText', () => {
  it.each([
    // Hyper-V on Windows Server, as people write it
    ['Hyper-V on Windows Server 2019', 'hyper-v-2019', 'Hyper-V on Windows Server 2019'],
    ['Windows Server 2012 R2 Hyper-V', 'hyper-v-2012-r2', 'Hyper-V on Windows Server 2012 R2'],
    ['Microsoft Hyper-V Server 2019', 'hyper-v-2019', 'Hyper-V on Windows Server 2019'],
    ['Hyper-V Server 2012 R2', 'hyper-v-2012-r2', 'Hyper-V on Windows Server 2012 R2'],
    ['Hyper-V 2016', 'hyper-v-2016', 'Hyper-V on Windows Server 2016'],
    ['Hyper-V (Windows Server 2008)', 'hyper-v-2008', 'Hyper-V on Windows Server 2008'],
    ['Windows Server 2008 R2 SP1 Hyper-V', 'hyper-v-2008-r2', 'Hyper-V on Windows Server 2008 R2'],
    ['Hyper-V on Windows Server 2022 Datacenter', 'hyper-v-2022', 'Hyper-V on Windows Server 2022'],
    ['Windows Server 2025', 'hyper-v-2025', 'Hyper-V on Windows Server 2025'],
    ['Microsoft Windows Server 2016 Datacenter', 'hyper-v-2016', 'Hyper-V on Windows Server 2016'],
    ['Hyper-V', 'hyper-v', 'Hyper-V'],
    // Azure Stack HCI / Azure Local, placed with the Windows Server release it shares a code base with
    ['Azure Stack HCI 20H2', 'hyper-v-2019', 'Hyper-V on Azure Stack HCI 20H2'],
    ['Azure Stack HCI 21H2', 'hyper-v-2022', 'Hyper-V on Azure Stack HCI 21H2'],
    ['Azure Stack HCI, version 22H2', 'hyper-v-2022', 'Hyper-V on Azure Stack HCI 22H2'],
    ['Azure Local', 'hyper-v-2022', 'Hyper-V on Azure Local'],
    ['Azure Local 24H2', 'hyper-v-2025', 'Hyper-V on Azure Local 24H2'],
    // Client Hyper-V
    ['Windows 10 Hyper-V', 'hyper-v-windows-10', 'Hyper-V on Windows 10'],
    ['Hyper-V on Windows 11 Pro', 'hyper-v-windows-11', 'Hyper-V on Windows 11'],
    // KVM and Xen, named by their host distribution
    ['RHEL 9.2 KVM', 'kvm-rhel-9.2', 'KVM on RHEL 9.2'],
    ['KVM on Red Hat Enterprise Linux 8.6', 'kvm-rhel-8.6', 'KVM on RHEL 8.6'],
    ['Red Hat Enterprise Linux 9.4 (Plow) with KVM', 'kvm-rhel-9.4', 'KVM on RHEL 9.4'],
    ['Red Hat Enterprise Linux Server release 5.4 (Tikanga) Xen', 'xen-rhel-5.4', 'Xen on RHEL 5.4'],
    ['RHEL 5 Xen', 'xen-rhel-5', 'Xen on RHEL 5'],
    ['RHEL 5.11', 'xen-rhel-5.11', 'Xen on RHEL 5.11'],
    ['Red Hat Enterprise Linux 9.2', 'kvm-rhel-9.2', 'KVM on RHEL 9.2'],
    ['CentOS Linux release 7.9.2009 (Core) KVM', 'kvm-centos-7.9', 'KVM on CentOS 7.9'],
    ['Ubuntu 22.04 KVM', 'kvm-ubuntu-22.04', 'KVM on Ubuntu 22.04'],
    ['SLES 15 SP5 KVM', 'kvm-sles-15-sp5', 'KVM on SLES 15 SP5'],
    ['KVM', 'kvm', 'KVM'],
    ['Xen 4.17', 'xen-4.17', 'Xen 4.17'],
    // Products named outright
    ['XenServer 8.2', 'xenserver-8.2', 'XenServer 8.2'],
    ['Citrix XenServer 7.1', 'xenserver-7.1', 'XenServer 7.1'],
    ['Citrix Hypervisor 8.2', 'xenserver-8.2', 'Citrix Hypervisor 8.2'],
    ['XCP-ng 8.2', 'xcp-ng-8.2', 'XCP-ng 8.2'],
    ['VMware ESXi 7.0', 'esxi-7.0', 'VMware ESXi 7.0'],
    ['VMware ESXi 7.0 Update 3', 'esxi-7.0-u3', 'VMware ESXi 7.0 U3'],
    ['vSphere 8.0', 'esxi-8.0', 'VMware ESXi 8.0'],
    ['Nutanix AHV', 'ahv', 'Nutanix AHV'],
    ['OpenShift Virtualization 4.14', 'openshift-virtualization-4.14', 'OpenShift Virtualization 4.14'],
    ['Red Hat OpenShift Virtualization 4.16', 'openshift-virtualization-4.16', 'OpenShift Virtualization 4.16'],
    ['RHV 4.4', 'rhv-4.4', 'Red Hat Virtualization 4.4'],
    ['Red Hat Enterprise Virtualization 3.6', 'rhv-3.6', 'Red Hat Virtualization 3.6'],
    ['oVirt node 7', 'ovirt-7', 'oVirt 7'],
    ['Proxmox VE 8.1', 'proxmox-ve-8.1', 'Proxmox VE 8.1'],
  ])('identifies %j as %s', (text, id, name) => {
    const hv = identifyHypervisorText(text);
    expect(hv?.id).toBe(id);
    expect(hv?.name).toBe(name);
  });

  it('gives the product and the version in the vendor’s own terms', () => {
    expect(identifyHypervisorText('Windows Server 2012 R2 Hyper-V')).toEqual({
      id: 'hyper-v-2012-r2',
      product: 'hyper-v',
      version: '2012 R2',
      name: 'Hyper-V on Windows Server 2012 R2',
    });
    expect(identifyHypervisorText('Red Hat Enterprise Linux Server release 5.4 (Tikanga) Xen')).toMatchObject({
      product: 'xen',
      version: 'RHEL 5.4',
    });
  });

  it.each(['', 'Linux', 'Windows 10', 'a hypervisor'])('gives null for %j, which names no hypervisor', (text) => {
    expect(identifyHypervisorText(text)).toBeNull();
  });
});

describe('identifyHypervisor', () => {
  const hv = (h: Partial<Hypervisor> & Pick<Hypervisor, 'driver' | 'product'>): Hypervisor => h;

  it('names a Hyper-V host by its Win32_OperatingSystem caption and build', () => {
    const r = identifyHypervisor(
      hv({
        driver: 'hyperv',
        product: 'hyper-v',
        hostOs: 'Microsoft Windows Server 2019 Datacenter',
        hostOsFields: {
          Caption: 'Microsoft Windows Server 2019 Datacenter',
          Version: '10.0.17763',
          BuildNumber: '17763',
          ProductType: '3',
        },
      }),
    );
    expect(r).toEqual({
      id: 'hyper-v-2019',
      product: 'hyper-v',
      version: '2019',
      build: '17763',
      name: 'Hyper-V on Windows Server 2019',
    });
  });

  it('names a Hyper-V host from its build and ProductType when there is no caption', () => {
    const r = identifyHypervisor(
      hv({ driver: 'hyperv', product: 'hyper-v', hostOsFields: { BuildNumber: '9600', ProductType: '3' } }),
    );
    expect(r?.id).toBe('hyper-v-2012-r2');
  });

  it('reads a localized caption (GLPI captures come from French Windows)', () => {
    const r = identifyHypervisor(
      hv({
        driver: 'hyperv',
        product: 'hyper-v',
        hostOsFields: { Caption: 'Microsoft Windows Server 2008 R2 Entreprise', BuildNumber: '7601' },
      }),
    );
    expect(r?.id).toBe('hyper-v-2008-r2');
  });

  it('names client Hyper-V by its Windows release', () => {
    const r = identifyHypervisor(
      hv({
        driver: 'hyperv',
        product: 'hyper-v',
        hostOsFields: { Caption: 'Microsoft Windows 11 Pro', BuildNumber: '22631', ProductType: '1' },
      }),
    );
    expect(r).toMatchObject({ id: 'hyper-v-windows-11', version: 'Windows 11' });
  });

  it('names Hyper-V Server and Azure Stack HCI hosts, whose captions are not Windows Server ones', () => {
    const hyperVServer = identifyHypervisor(
      hv({ driver: 'hyperv', product: 'hyper-v', hostOsFields: { Caption: 'Microsoft Hyper-V Server 2019' } }),
    );
    expect(hyperVServer?.id).toBe('hyper-v-2019');
    const hci = identifyHypervisor(
      hv({
        driver: 'hyperv',
        product: 'hyper-v',
        hostOsFields: { Caption: 'Microsoft Azure Stack HCI', BuildNumber: '17784' },
      }),
    );
    expect(hci).toMatchObject({ id: 'hyper-v-2019', name: 'Hyper-V on Azure Stack HCI' });
  });

  it('falls back on a version the driver already put in vendor terms', () => {
    expect(identifyHypervisor(hv({ driver: 'hyperv', product: 'hyper-v', version: '2016' }))?.id).toBe('hyper-v-2016');
    expect(identifyHypervisor(hv({ driver: 'hyperv', product: 'hyper-v', version: '10.0.20348' }))?.id).toBe(
      'hyper-v-2022',
    );
  });

  it('names KVM by the host’s os-release fields in vendor terms', () => {
    const r = identifyHypervisor(
      hv({
        driver: 'libvirt',
        product: 'kvm',
        version: '8.0.0',
        managementStack: 'libvirt 9.0.0',
        hostOs: 'Red Hat Enterprise Linux 9.2 (Plow)',
        hostOsFields: { ID: 'rhel', VERSION_ID: '9.2', NAME: 'Red Hat Enterprise Linux' },
      }),
    );
    expect(r).toEqual({ id: 'kvm-rhel-9.2', product: 'kvm', version: 'RHEL 9.2', name: 'KVM on RHEL 9.2' });
  });

  it('names KVM by the host’s pretty name when it has no fields', () => {
    const r = identifyHypervisor(
      hv({ driver: 'libvirt', product: 'kvm', hostOs: 'CentOS Linux release 7.9.2009 (Core)' }),
    );
    expect(r?.id).toBe('kvm-centos-7.9');
    const stream = identifyHypervisor(hv({ driver: 'libvirt', product: 'kvm', hostOs: 'CentOS Stream 9' }));
    expect(stream).toMatchObject({ version: 'CentOS Stream 9', name: 'KVM on CentOS Stream 9' });
  });

  it('names Xen on RHEL 5 by the host’s release line', () => {
    const r = identifyHypervisor(
      hv({
        driver: 'xen',
        product: 'xen',
        version: '3.1.2',
        hostOs: 'Red Hat Enterprise Linux Server release 5.4 (Tikanga)',
      }),
    );
    expect(r).toMatchObject({ id: 'xen-rhel-5.4', version: 'RHEL 5.4', name: 'Xen on RHEL 5.4' });
  });

  it('keeps Xen’s own version, but gives KVM none, when the host OS is unknown', () => {
    expect(identifyHypervisor(hv({ driver: 'xen', product: 'xen', version: '4.17' }))?.id).toBe('xen-4.17');
    expect(identifyHypervisor(hv({ driver: 'libvirt', product: 'kvm', version: '8.2.0' }))?.id).toBe('kvm');
  });

  it('keeps plain QEMU (no KVM acceleration) apart from KVM', () => {
    const r = identifyHypervisor(
      hv({ driver: 'libvirt', product: 'qemu', hostOsFields: { ID: 'ubuntu', VERSION_ID: '24.04' } }),
    );
    expect(r?.id).toBe('qemu-ubuntu-24.04');
  });

  it('names XenServer by major.minor and tells XCP-ng apart by its brand', () => {
    // community.general ansible-test-vm-1-params.json: host.software_version product_version 7.2.0.
    const xenserver = identifyHypervisor(
      hv({
        driver: 'xenserver',
        product: 'xenserver',
        version: '7.2.0',
        hostOs: 'XenServer 7.2',
        build: 'release/falcon/master/8',
      }),
    );
    expect(xenserver).toMatchObject({ id: 'xenserver-7.2', version: '7.2', build: 'release/falcon/master/8' });
    const xcp = identifyHypervisor(
      hv({ driver: 'xenserver', product: 'xenserver', version: '8.2.1', hostOs: 'XCP-ng 8.2.1' }),
    );
    expect(xcp).toMatchObject({ id: 'xcp-ng-8.2', product: 'xcp-ng', name: 'XCP-ng 8.2' });
    const citrix = identifyHypervisor(
      hv({ driver: 'xenserver', product: 'xenserver', version: '8.2.0', hostOs: 'Citrix Hypervisor 8.2' }),
    );
    expect(citrix).toMatchObject({ id: 'xenserver-8.2', name: 'Citrix Hypervisor 8.2' });
  });

  it('reports libvirt’s test driver as product "test" with no version', () => {
    const r = identifyHypervisor(hv({ driver: 'libvirt', product: 'test', version: '0.0.0' }));
    expect(r).toEqual({ id: 'test', product: 'test', version: '', name: 'libvirt test driver' });
  });

  it('passes other products through with their version', () => {
    expect(identifyHypervisor(hv({ driver: 'libvirt', product: 'esxi', version: '7.0' }))?.id).toBe('esxi-7.0');
  });

  it('gives null for a report that names no product', () => {
    expect(identifyHypervisor(hv({ driver: 'libvirt', product: '' }))).toBeNull();
  });
});

describe('hypervisor identities one product at a time', () => {
  it.each([
    ['XCP-ng 8.2', 'xcp-ng-8.2', 'XCP-ng 8.2'],
    ['Citrix Hypervisor 8.2.1', 'xenserver-8.2.1', 'Citrix Hypervisor 8.2.1'],
    ['XenServer 7.1', 'xenserver-7.1', 'XenServer 7.1'],
    ['VMware ESXi 7.0 Update 3', 'esxi-7.0-u3', 'VMware ESXi 7.0 U3'],
    ['ESXi 6.7u3', 'esxi-6.7-u3', 'VMware ESXi 6.7 U3'],
    ['ESXi 8.0.2', 'esxi-8.0.2', 'VMware ESXi 8.0.2'],
    ['Hyper-V Server 2019', 'hyper-v-2019', 'Hyper-V on Windows Server 2019'],
    ['HyperV 2016', 'hyper-v-2016', 'Hyper-V on Windows Server 2016'],
    ['Windows Server 2019 Datacenter', 'hyper-v-2019', 'Hyper-V on Windows Server 2019'],
    // RHEL 5's hypervisor was Xen; KVM arrived only in 5.4 and Red Hat lists RHEL 5 hosts under Xen.
    ['Red Hat Enterprise Linux Server release 5.4 (Tikanga)', 'xen-rhel-5.4', 'Xen on RHEL 5.4'],
    ['CentOS Linux release 7.9.2009 (Core)', 'kvm-centos-7.9', 'KVM on CentOS 7.9'],
    ['Xen 4.17 on Debian 12', 'xen-debian-12', 'Xen on Debian 12'],
    ['Azure Local 23H2', 'hyper-v-2022', 'Hyper-V on Azure Local 23H2'],
    ['Azure Stack HCI 22H2', 'hyper-v-2022', 'Hyper-V on Azure Stack HCI 22H2'],
    ['Nutanix AHV 20230302', 'ahv-20230302', 'Nutanix AHV 20230302'],
  ])('%j is %s', (text, id, name) => {
    expect(identifyHypervisorText(text)).toMatchObject({ id, name });
  });

  it('names none from a client Windows, or from nothing', () => {
    expect(identifyHypervisorText('Windows 10 Pro')).toBeNull();
    expect(identifyHypervisorText('   ')).toBeNull();
    expect(identifyHypervisor({ driver: 'none', product: '' })).toBeNull();
  });

  it.each([
    [
      { driver: 'xenserver', product: 'XCP-ng', version: '8.2.1' },
      { id: 'xcp-ng-8.2', name: 'XCP-ng 8.2' },
    ],
    [
      {
        driver: 'xenserver',
        product: 'xenserver',
        version: '',
        hostOsFields: { VERSION_ID: '8.2.1', NAME: 'XenServer' },
      },
      { id: 'xenserver-8.2', name: 'XenServer 8.2' },
    ],
    [
      { driver: 'xenserver', product: 'xenserver', hostOs: 'Citrix Hypervisor 8.2' },
      { id: 'xenserver-8.2', name: 'Citrix Hypervisor 8.2' },
    ],
    [
      { driver: 'xenserver', product: 'xenserver', hostOs: 'XenServer', managementStack: 'xcp-ng xapi' },
      { id: 'xcp-ng', product: 'xcp-ng', name: 'XCP-ng' },
    ],
    [
      {
        driver: 'hyperv',
        product: 'Hyper-V',
        version: '10.0.20348',
        hostOsFields: { Caption: 'Microsoft Azure Stack HCI', BuildNumber: '20348' },
      },
      { id: 'hyper-v-2022', name: 'Hyper-V on Azure Stack HCI', build: '20348' },
    ],
    [
      { driver: 'hyperv', product: 'hyper-v', hostOs: 'Hyper-V Server 2019' },
      { id: 'hyper-v-2019', name: 'Hyper-V on Windows Server 2019' },
    ],
    [
      { driver: 'libvirt', product: 'qemu', version: '7.2.0', hostOs: 'Debian GNU/Linux 12 (bookworm)' },
      { id: 'qemu-debian-12', name: 'QEMU on Debian 12' },
    ],
    [
      { driver: 'libvirt', product: 'xen', version: '4.17' },
      { id: 'xen-4.17', name: 'Xen 4.17' },
    ],
    [
      { driver: 'libvirt', product: 'kvm' },
      { id: 'kvm', name: 'KVM', version: '' },
    ],
    [
      { driver: 'libvirt', product: 'ESXi', version: '7.0.3', build: '123' },
      { id: 'esxi-7.0.3', name: 'VMware ESXi 7.0.3', build: '123' },
    ],
  ])('%j', (hv, expected) => {
    expect(identifyHypervisor(hv)).toMatchObject(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { identifyWindowsBuild, windowsFromFacts, windowsFromText } from './windows.js';

const WORKSTATION = 1;
const DOMAIN_CONTROLLER = 2;
const SERVER = 3;

describe('identifyWindowsBuild', () => {
  it.each([
    ['10.0.26100', SERVER, 'windows-server-2025', 'Windows Server 2025'],
    ['10.0.26100', WORKSTATION, 'windows-11', 'Windows 11 (24H2)'],
    ['10.0.20348', SERVER, 'windows-server-2022', 'Windows Server 2022'],
    ['10.0.20348', DOMAIN_CONTROLLER, 'windows-server-2022', 'Windows Server 2022'],
    ['10.0.17763', SERVER, 'windows-server-2019', 'Windows Server 2019'],
    ['10.0.17763', WORKSTATION, 'windows-10', 'Windows 10 (1809)'],
    ['10.0.14393', SERVER, 'windows-server-2016', 'Windows Server 2016'],
    ['10.0.14393', WORKSTATION, 'windows-10', 'Windows 10 (1607)'],
    ['10.0.25398', SERVER, 'windows-server-23h2', 'Windows Server, version 23H2'],
    ['10.0.17134', SERVER, 'windows-server-1803', 'Windows Server, version 1803'],
    ['6.3.9600', SERVER, 'windows-server-2012-r2', 'Windows Server 2012 R2'],
    ['6.3.9600', WORKSTATION, 'windows-8.1', 'Windows 8.1'],
    ['6.2.9200', SERVER, 'windows-server-2012', 'Windows Server 2012'],
    ['6.2.9200', WORKSTATION, 'windows-8', 'Windows 8'],
    ['6.1.7601', SERVER, 'windows-server-2008-r2', 'Windows Server 2008 R2'],
    ['6.1.7601', WORKSTATION, 'windows-7', 'Windows 7'],
    ['6.1.7600', SERVER, 'windows-server-2008-r2', 'Windows Server 2008 R2'],
    ['6.0.6002', SERVER, 'windows-server-2008', 'Windows Server 2008'],
    ['6.0.6003', SERVER, 'windows-server-2008', 'Windows Server 2008'],
    ['6.0.6002', WORKSTATION, 'windows-vista', 'Windows Vista'],
    ['5.2.3790', SERVER, 'windows-server-2003', 'Windows Server 2003'],
    ['10.0.22000', WORKSTATION, 'windows-11', 'Windows 11 (21H2)'],
    ['10.0.22631', WORKSTATION, 'windows-11', 'Windows 11 (23H2)'],
    ['10.0.26200', WORKSTATION, 'windows-11', 'Windows 11 (25H2)'],
    ['10.0.10240', WORKSTATION, 'windows-10', 'Windows 10 (1507)'],
    ['10.0.19045', WORKSTATION, 'windows-10', 'Windows 10 (22H2)'],
  ])('names NT %s with ProductType %s as %s', (nt, productType, id, name) => {
    const os = identifyWindowsBuild(nt, productType);
    expect(os?.id).toBe(id);
    expect(os?.name).toBe(name);
    expect(os?.family).toBe('windows');
    expect(os?.build).toBe(nt.split('.')[2]);
  });

  it('names a client build between known feature releases by its product line alone', () => {
    expect(identifyWindowsBuild('10.0.19000', WORKSTATION)).toMatchObject({ id: 'windows-10', name: 'Windows 10' });
    expect(identifyWindowsBuild('10.0.23000', WORKSTATION)).toMatchObject({ id: 'windows-11', name: 'Windows 11' });
  });

  it('accepts a bare build number, as a number or a string, and a product type as text', () => {
    expect(identifyWindowsBuild(17763, '3')?.id).toBe('windows-server-2019');
    expect(identifyWindowsBuild('17763', 3)?.id).toBe('windows-server-2019');
  });

  it('records the service pack a build implies', () => {
    expect(identifyWindowsBuild('6.1.7601', SERVER)?.servicePack).toBe('SP1');
    expect(identifyWindowsBuild('6.0.6002', SERVER)?.servicePack).toBe('SP2');
  });

  it('answers without a product type only where the build belongs to one product line', () => {
    expect(identifyWindowsBuild('10.0.20348')?.id).toBe('windows-server-2022');
    expect(identifyWindowsBuild('10.0.22631')?.id).toBe('windows-11');
    expect(identifyWindowsBuild('10.0.17763')).toBeNull();
    expect(identifyWindowsBuild('10.0.26100')).toBeNull();
  });

  it('gives null for a server build it does not know, such as a preview', () => {
    expect(identifyWindowsBuild('10.0.20344', SERVER)).toBeNull();
    expect(identifyWindowsBuild('6.2.8064', SERVER)).toBeNull();
  });

  it('gives null for text that holds no build', () => {
    expect(identifyWindowsBuild('N/A')).toBeNull();
    expect(identifyWindowsBuild('')).toBeNull();
  });
});

describe('windowsFromFacts', () => {
  const server = (version: string, extra: object = {}) => ({
    family: 'windows',
    distro: 'windows-server',
    version,
    display: 'Windows Server',
    ...extra,
  });
  const client = (version: string, extra: object = {}) => ({
    family: 'windows',
    distro: 'windows',
    version,
    display: 'Windows',
    ...extra,
  });

  it.each([
    [
      { caption: 'Microsoft Windows Server 2019 Datacenter Evaluation', build: '17763' },
      server('2019', { build: '17763', edition: 'Datacenter Evaluation' }),
    ],
    // The caption of Windows 11 still says 10 on early builds: the build decides.
    [
      { caption: 'Microsoft Windows 10 Enterprise', build: '22000' },
      client('11', { release: '21H2', build: '22000', edition: 'Enterprise' }),
    ],
    [
      { caption: 'Microsoft Windows 10 Pro', build: '19045' },
      client('10', { release: '22H2', build: '19045', edition: 'Pro' }),
    ],
    [{ caption: 'Windows 11 Pro', build: '26100' }, client('11', { release: '24H2', build: '26100', edition: 'Pro' })],
    // A caption without a version: the build and product type decide (2 is a domain controller).
    [{ caption: 'Windows', build: '17763', productType: 3 }, server('2019', { build: '17763' })],
    [{ caption: 'Windows', build: '17763', productType: 2 }, server('2019', { build: '17763' })],
    [{ caption: 'Windows', build: '17763', productType: 1 }, client('10', { build: '17763', release: '1809' })],
    [{ caption: '', build: '20348' }, server('2022', { build: '20348' })],
    [
      { caption: 'Windows Server 2008 R2 Enterprise', build: '7601', servicePack: '1' },
      server('2008 R2', { servicePack: 'SP1', build: '7601', edition: 'Enterprise' }),
    ],
    [{ caption: 'Windows Server 2008 R2 Enterprise', servicePack: '0' }, server('2008 R2', { edition: 'Enterprise' })],
    [
      { caption: 'Windows Server 2003, Standard Edition Service Pack 2' },
      server('2003', { edition: 'Standard', servicePack: 'SP2' }),
    ],
    [
      { caption: 'Microsoft Windows XP Professional', build: '2600', servicePack: 'Service Pack 3' },
      client('XP', { build: '2600', edition: 'Professional', servicePack: 'SP3' }),
    ],
    [{ caption: 'Windows Vista Business' }, client('Vista', { edition: 'Business' })],
    [{ caption: 'Windows 2000 Server' }, server('2000')],
    [
      { caption: 'Windows Server 2016 Standard', build: '10.0.14393', arch: 'x86_64' },
      server('2016', { build: '14393', edition: 'Standard', arch: 'x86_64' }),
    ],
    [{ caption: 'Linux', build: '123' }, null],
    [{ caption: '', build: '' }, null],
  ])('%j', (facts, expected) => {
    expect(windowsFromFacts(facts)).toEqual(expected);
  });
});

describe('windowsFromText', () => {
  it.each([
    [
      'Windows Server 2022 Datacenter Azure Edition',
      { version: '2022', distro: 'windows-server', edition: 'Datacenter' },
    ],
    ['windows server 2012 r2 standard', { version: '2012 R2', distro: 'windows-server', edition: 'Standard' }],
    ['Windows 8.1 Pro', { version: '8.1', distro: 'windows', edition: 'Pro' }],
    ['Windows 7 Ultimate', { version: '7', distro: 'windows', edition: 'Ultimate' }],
  ])('%j', (text, expected) => {
    expect(windowsFromText(text)).toMatchObject(expected);
  });

  it('names no Windows from the bare word or from a short name it does not know', () => {
    expect(windowsFromText('Windows')).toBeNull();
    expect(windowsFromText('Win2k3')).toBeNull();
    expect(windowsFromText('Debian 12')).toBeNull();
  });
});

describe('identifyWindowsBuild, other forms', () => {
  it('reads the build from an NT version or a number, trimmed, with the product type as text', () => {
    expect(identifyWindowsBuild(' 6.1.7601 ', '3')).toMatchObject({
      id: 'windows-server-2008-r2',
      build: '7601',
      servicePack: 'SP1',
    });
    expect(identifyWindowsBuild(17763, 1)).toMatchObject({ id: 'windows-10', name: 'Windows 10 (1809)' });
    expect(identifyWindowsBuild('abc')).toBeNull();
  });
});

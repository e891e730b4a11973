import { describe, expect, it } from 'vitest';
import { identifyWindowsBuild } from './windows.js';

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

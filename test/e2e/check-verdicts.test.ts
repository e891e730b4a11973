/**
 * `hvmap check` gives the sourced verdict for each pair issue 11 found wrong or undecided on the demo
 * fleet, run as the real CLI a person would type.
 */
import { describe, expect, it } from 'vitest';
import { COLLECTOR_CLI, runCli } from '../helpers/processes.js';

interface Pair {
  hypervisor: string;
  guest: string;
  status: 'certified' | 'not-certified' | 'unknown';
  /** The program whose row decides, with the source address it must cite. */
  decidedBy: [program: string, verdict: string, source: RegExp];
  eol?: boolean;
}

const pairs: Pair[] = [
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Microsoft Windows Server 2012 R2 Datacenter',
    status: 'certified',
    decidedBy: ['ms-hyperv-windows', 'covered', /what-when-how\.com/],
    eol: true,
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2019',
    guest: 'Ubuntu 22.04.3 LTS',
    status: 'certified',
    decidedBy: ['ms-hyperv-linux', 'covered', /Supported-Ubuntu-virtual-machines-on-Hyper-V\.md/],
  },
  {
    hypervisor: 'RHEL 5.4 KVM',
    guest: 'Windows Server 2012 Datacenter',
    status: 'unknown',
    decidedBy: ['rh-kvm-guests', 'silent', /access\.redhat\.com\/articles\/973163/],
    eol: true,
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Red Hat Enterprise Linux Server release 5.4 (Tikanga)',
    status: 'certified',
    decidedBy: ['ms-hyperv-linux', 'covered', /Supported-CentOS-and-Red-Hat-Enterprise-Linux/],
    eol: true,
  },
  {
    hypervisor: 'Windows Server 2012 R2 Hyper-V',
    guest: 'Red Hat Enterprise Linux Server release 7.9 (Maipo)',
    status: 'certified',
    decidedBy: ['ms-hyperv-linux', 'covered', /32467357607588c1970e3233670dbb8c483b5c55/],
    eol: true,
  },
  {
    hypervisor: 'Hyper-V on Windows Server 2019',
    guest: 'SUSE Linux Enterprise Server 12 SP5',
    status: 'certified',
    decidedBy: ['ms-hyperv-linux', 'covered', /Supported-SUSE-virtual-machines-on-Hyper-V\.md/],
    eol: true,
  },
  {
    hypervisor: 'RHEL 5.4 KVM',
    guest: 'Red Hat Enterprise Linux AS release 3 (Taroon Update 9)',
    status: 'certified',
    decidedBy: ['rh-kvm-guests', 'covered', /page-89\.html/],
    eol: true,
  },
];

describe('hvmap check on the pairs of issue 11', () => {
  it.each(pairs)('$guest on $hypervisor is $status', async (pair) => {
    const result = await runCli(COLLECTOR_CLI, [
      'check',
      '--hypervisor',
      pair.hypervisor,
      '--guest',
      pair.guest,
      '--date',
      '2026-12-02',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.status).toBe(pair.status);
    const [program, verdict, source] = pair.decidedBy;
    const decided = out.programs.find((p: { program: string }) => p.program === program);
    expect(decided).toMatchObject({ verdict, source: expect.stringMatching(source) });
    // An undecided or refused pair says why; a certified one has nothing to explain.
    if (pair.status === 'certified') expect(out.why).toEqual([]);
    else expect(out.why).toContainEqual(expect.stringContaining(`${program}: `));
    if (pair.eol) expect(out.eol).toEqual({ date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });
    else expect(out.eol).toBeNull();
  });
});

import { parseAgentFrame } from '@hvmap/shared/schema';
import { describe, expect, it } from 'vitest';
import { collectHostFacts, toHostFacts } from './host-facts.js';

describe('toHostFacts', () => {
  it("maps systeminformation's answer and leaves out what a container does not have", () => {
    const facts = toHostFacts(
      {
        osInfo: {
          platform: 'linux',
          distro: 'Red Hat Enterprise Linux',
          release: '9.2',
          kernel: '5.14.0',
          arch: 'x64',
        },
        cpu: { manufacturer: 'Intel', brand: 'Xeon Gold 6338', cores: 64, processors: 2 },
        mem: { total: 270_000_000_000 },
        system: { manufacturer: '', model: 'Docker Container', uuid: '', virtual: true },
        uuid: { hardware: '' },
      },
      'kvm1.example',
    );
    expect(facts).toEqual({
      hostname: 'kvm1.example',
      os: { platform: 'linux', distro: 'Red Hat Enterprise Linux', release: '9.2', kernel: '5.14.0', arch: 'x64' },
      cpu: { manufacturer: 'Intel', brand: 'Xeon Gold 6338', cores: 64, sockets: 2 },
      memoryBytes: 270_000_000_000,
      model: 'Docker Container',
      virtual: true,
    });
    expect(Object.keys(facts)).not.toContain('systemUuid');
  });

  it('falls back to the hardware UUID and clips text to the protocol limits', () => {
    const facts = toHostFacts(
      { system: { uuid: '' }, uuid: { hardware: 'abc-123' }, cpu: { brand: 'x'.repeat(300) } },
      'h',
    );
    expect(facts.systemUuid).toBe('abc-123');
    expect(facts.cpu.brand).toHaveLength(256);
  });
});

describe('collectHostFacts', () => {
  it("collects this machine's facts in a shape the collector accepts", async () => {
    const host = await collectHostFacts();
    const frame = {
      type: 'inventory',
      seq: 0,
      collectedAt: new Date().toISOString(),
      host,
      hypervisor: { driver: 'test', product: 'test' },
      guests: [],
      errors: [],
      partial: false,
    };
    expect(parseAgentFrame(JSON.stringify(frame))).toMatchObject({ ok: true });
    expect(host.hostname.length).toBeGreaterThan(0);
  });
});

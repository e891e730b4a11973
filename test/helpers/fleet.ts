/**
 * A small fleet for tests of the views: three hosts on three hypervisors, guests whose OS evidence
 * is what the libvirt driver sends (libosinfo ids), and a raw protocol agent that feeds it to a
 * collector over the real /agent WebSocket.
 */
import type { CollectorFrame, Hypervisor, Inventory } from '@hvmap/shared';
import { WebSocket } from 'ws';

export const HYPERVISORS = {
  kvmRhel92: {
    driver: 'libvirt',
    product: 'kvm',
    version: '8.2.0',
    managementStack: 'libvirt 9.0.0',
    hostOs: 'Red Hat Enterprise Linux 9.2 (Plow)',
    hostOsFields: { ID: 'rhel', VERSION_ID: '9.2' },
  },
  hyperV2019: { driver: 'hyperv', product: 'hyper-v', version: '2019' },
  hyperV2012R2: { driver: 'hyperv', product: 'hyper-v', version: '2012 R2' },
} satisfies Record<string, Hypervisor>;

/** libosinfo ids as virt-install records them. */
export const OS = {
  rhel92: 'http://redhat.com/rhel/9.2',
  rhel86: 'http://redhat.com/rhel/8.6',
  win2019: 'http://microsoft.com/win/2k19',
  win2008r2: 'http://microsoft.com/win/2k8r2',
  ubuntu2204: 'http://ubuntu.com/ubuntu/22.04',
  centos610: 'http://centos.org/centos/6.10',
} as const;

export interface FleetGuest {
  name: string;
  uuid: string;
  /** A libosinfo id; absent: the driver found no evidence. */
  os?: string;
  state?: 'running' | 'shutoff';
}

export interface FleetHost {
  agent: string;
  hostname: string;
  hypervisor: Hypervisor;
  guests: FleetGuest[];
}

const uuid = (host: number, guest: number) =>
  `${String(host).padStart(8, '0')}-0000-4000-8000-${String(guest).padStart(12, '0')}`;

/** Certified, not certified, unknown and end-of-life guests under the shipped catalog. */
export function testFleet(): FleetHost[] {
  return [
    {
      agent: 'kvm-01',
      hostname: 'kvm-01.example',
      hypervisor: HYPERVISORS.kvmRhel92,
      guests: [
        { name: 'web01', uuid: uuid(1, 1), os: OS.rhel92 },
        { name: 'dc01', uuid: uuid(1, 2), os: OS.win2019 },
        { name: 'ci-runner', uuid: uuid(1, 3), os: OS.ubuntu2204 },
        { name: 'legacy-app', uuid: uuid(1, 4), os: OS.centos610, state: 'shutoff' },
        { name: 'mystery', uuid: uuid(1, 5) },
      ],
    },
    {
      agent: 'hv-01',
      hostname: 'hv-01.example',
      hypervisor: HYPERVISORS.hyperV2019,
      guests: [
        { name: 'app-2008', uuid: uuid(2, 1), os: OS.win2008r2 },
        { name: 'db01', uuid: uuid(2, 2), os: OS.rhel86 },
        { name: 'dc02', uuid: uuid(2, 3), os: OS.win2019 },
        // A name with every character CSV must quote.
        { name: 'db "primary", east\nwing', uuid: uuid(2, 4), os: OS.rhel86 },
      ],
    },
    {
      agent: 'hv-02',
      hostname: 'hv-02.example',
      hypervisor: HYPERVISORS.hyperV2012R2,
      guests: [
        { name: 'old01', uuid: uuid(3, 1), os: OS.win2008r2 },
        { name: 'rh01', uuid: uuid(3, 2), os: OS.rhel86 },
      ],
    },
  ];
}

/** The snapshot an agent on this host would send. */
export function inventory(host: FleetHost, seq: number): Inventory {
  return {
    type: 'inventory',
    seq,
    collectedAt: new Date().toISOString(),
    host: { hostname: host.hostname, os: { platform: 'linux' }, cpu: { brand: 'Test CPU', cores: 8 } },
    hypervisor: host.hypervisor,
    guests: host.guests.map((g) => ({
      uuid: g.uuid,
      name: g.name,
      state: g.state ?? 'running',
      vcpus: 2,
      memoryBytes: 4 * 1024 ** 3,
      os: g.os ? { evidence: [{ source: 'libosinfo', text: g.os }] } : { evidence: [], reason: 'no_guest_agent' },
    })),
    errors: [],
    partial: false,
  };
}

/** An agent speaking protocol v1 itself: hello, then snapshots, each awaited until acknowledged. */
export class ProtocolAgent {
  private seq = 0;
  private readonly frames: CollectorFrame[] = [];
  private readonly waiters: (() => void)[] = [];

  private constructor(
    readonly ws: WebSocket,
    private readonly host: FleetHost,
  ) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as CollectorFrame);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(agentUrl: string, token: string, host: FleetHost): Promise<ProtocolAgent> {
    const ws = new WebSocket(agentUrl, { headers: { authorization: `Bearer ${token}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const agent = new ProtocolAgent(ws, host);
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: 1,
        agentId: `id-${host.agent}`,
        agentVersion: '0.1.0',
        hostname: host.hostname,
      }),
    );
    await agent.next('welcome');
    return agent;
  }

  /** Sends the host as it is now and resolves once the collector stored it. */
  async report(): Promise<void> {
    const seq = ++this.seq;
    this.ws.send(JSON.stringify(inventory(this.host, seq)));
    const ack = await this.next('ack');
    if ((ack as { seq: number }).seq !== seq) throw new Error(`expected ack ${seq}, got ${JSON.stringify(ack)}`);
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }

  private async next(type: CollectorFrame['type']): Promise<CollectorFrame> {
    for (;;) {
      const i = this.frames.findIndex((f) => f.type === type || f.type === 'error');
      if (i >= 0) {
        const [frame] = this.frames.splice(i, 1);
        if (frame.type === 'error') throw new Error(`collector refused: ${frame.code} ${frame.message}`);
        return frame;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

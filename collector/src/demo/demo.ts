import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  collectHostFacts,
  DRIVERS,
  libvirtDriver,
  localRunner,
  type RunningAgent,
  replayRunner,
  runAgent,
} from '@hvmap/agent';
import type { HostFacts } from '@hvmap/shared';
import type { Logger } from 'pino';
import { listAlerts } from '../alerts/store.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { createLogger } from '../log.js';
import { counted } from '../report/hygiene.js';
import { readReport } from '../store/report.js';
import { type DemoHost, initialFleet, nodeXml, TIMELINE } from './fleet.js';
import { OS_RELEASES, type RealKvm, RealKvmUnavailable, startRealKvm } from './real-kvm/real-kvm.js';

export interface DemoOptions {
  listen: string;
  /** Allow a listen beyond loopback (the demo serves no TLS). */
  insecurePlaintext?: boolean;
  db?: string;
  intervalSec: number;
  /** Stop after this long; run until a signal when absent. */
  durationSec?: number;
  /** Add a real KVM host: libvirtd on qemu:///system with tiny real QEMU guests (root, Debian packages). */
  realKvm?: boolean;
  out: (line: string) => void;
}

/**
 * Hosts that cannot run here (Hyper-V, Xen, XenServer): their agents run the real drivers on the
 * captured outputs of the drivers' own test cases (see each case's ORIGIN for what is real).
 */
const REPLAYED_HOSTS = [
  { name: 'hv-2019', driver: 'hyperv', testcase: 'hyperv/testcases/ws2019-hyperv' },
  { name: 'hv-2012r2', driver: 'hyperv', testcase: 'hyperv/testcases/ws2012r2-hyperv' },
  { name: 'xen-rhel5', driver: 'xen', testcase: 'xen/testcases/rhel5.4-xen-xm' },
  { name: 'xenserver-72', driver: 'xenserver', testcase: 'xenserver/testcases/xenserver-7.2-xe' },
] as const;

/** The replayed host that goes silent for a while, so host-silent fires and resolves. */
const SILENT_HOST = 'xen-rhel5';

const DRIVERS_SOURCE = fileURLToPath(new URL('../../../agent/src/drivers/', import.meta.url));

/** Writes a file so that a concurrent reader (virsh) sees the old or the new content, never half. */
function writeAtomic(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

function writeHost(dir: string, host: DemoHost): void {
  mkdirSync(path.join(dir, 'root', 'etc'), { recursive: true });
  writeAtomic(path.join(dir, 'root', 'etc', 'os-release'), host.osRelease);
  writeAtomic(path.join(dir, 'node.xml'), nodeXml(host));
}

async function virshAvailable(): Promise<boolean> {
  const result = await localRunner().run('virsh', ['--version'], { timeoutMs: 10_000 });
  return result.code === 0;
}

function summary(collector: RunningCollector): string {
  const report = readReport(collector.db, { includeRemoved: false });
  const counts = new Map<string, number>();
  for (const g of report.guests) counts.set(g.status, (counts.get(g.status) ?? 0) + 1);
  const eol = report.guests.filter((g) => g.eol).length;
  const firing = listAlerts(collector.db, { state: 'firing' }).length;
  return `${counted(report.hosts.length, 'host')}, ${counted(report.guests.length, 'guest')}: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}${eol ? `; ${eol} past end of support` : ''}; ${counted(firing, 'alert')} firing`;
}

/**
 * `hvmap demo`: a collector on a fresh SQLite file and simulated KVM hosts whose agents run the real
 * libvirt driver against the real `virsh` (libvirt's test driver reading node files this demo writes).
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const { out } = options;
  if (!(await virshAvailable())) {
    out('hvmap demo needs virsh (libvirt clients) for its KVM hosts. Install it, then run the demo again:');
    out('  sudo apt-get install -y libvirt-clients      # Debian, Ubuntu');
    out('  sudo dnf install -y libvirt-client           # RHEL, Fedora');
    return 1;
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const workDir = path.resolve('data', `demo-${stamp}`);
  mkdirSync(workDir, { recursive: true });
  const dbFile = options.db ?? path.join(workDir, 'hvmap.db');
  // The demo speaks in plain lines on stdout; its JSON logs only say what went wrong.
  const logger = createLogger(process.env.HVMAP_LOG_LEVEL ?? 'error');
  const collector = await startCollector({
    db: dbFile,
    listen: options.listen,
    insecurePlaintext: options.insecurePlaintext,
    intervalSec: options.intervalSec,
    logger,
  });

  const fleet = initialFleet();
  const hostFacts = (name: string) => async () => ({
    // Every simulated host runs on this machine: only its name tells them apart.
    ...(await collectHostFacts()),
    hostname: `${name}.demo`,
    systemUuid: undefined,
  });
  const agentLogger = (name: string) => logger.child({ component: 'agent', host: name });
  const kvmAgents = await Promise.all(
    fleet.map((host) => {
      const dir = path.join(workDir, host.name);
      writeHost(dir, host);
      return runAgent({
        collectorUrl: collector.agentUrl,
        token: collector.tokens.create(host.name).token,
        drivers: [libvirtDriver({ uri: `test://${path.join(dir, 'node.xml')}` })],
        runner: localRunner({ root: path.join(dir, 'root') }),
        stateDir: path.join(dir, 'state'),
        intervalSec: options.intervalSec,
        hostname: `${host.name}.demo`,
        hostFacts: hostFacts(host.name),
        logger: agentLogger(host.name),
      });
    }),
  );
  const replayTokens = new Map(REPLAYED_HOSTS.map((h) => [h.name, collector.tokens.create(h.name).token]));
  const startReplayed = (h: (typeof REPLAYED_HOSTS)[number]) => {
    const entry = DRIVERS.find((d) => d.name === h.driver);
    if (!entry) throw new Error(`demo: no driver ${h.driver}`);
    return runAgent({
      collectorUrl: collector.agentUrl,
      token: replayTokens.get(h.name) as string,
      drivers: [entry.create({})],
      detect: false,
      runner: replayRunner(path.join(DRIVERS_SOURCE, h.testcase)),
      stateDir: path.join(workDir, h.name, 'state'),
      intervalSec: options.intervalSec,
      hostname: `${h.name}.demo`,
      hostFacts: hostFacts(h.name),
      logger: agentLogger(h.name),
    });
  };
  const replayed = new Map<string, RunningAgent>();
  for (const h of REPLAYED_HOSTS) replayed.set(h.name, await startReplayed(h));
  const real = options.realKvm
    ? await startRealKvmHost(collector, workDir, options, hostFacts(REAL_KVM_HOST), agentLogger(REAL_KVM_HOST), out)
    : null;
  if (typeof real === 'string') {
    out(`hvmap demo --real-kvm: ${real}`);
    await Promise.all([...kvmAgents, ...replayed.values()].map((a) => a.stop()));
    await collector.close();
    rmSync(workDir, { recursive: true, force: true });
    return 1;
  }

  out(`hvmap demo: collector on ${collector.url}, database ${dbFile}`);
  out(`  live map (open in a browser): ${collector.url}/`);
  out(`  map (JSON):  ${collector.url}/api/report      CSV: ${collector.url}/api/report?format=csv`);
  out(`  in a terminal: npx hvmap report --collector ${collector.url}`);
  out(
    `  KVM hosts (real virsh, libvirt test driver): ${fleet.map((h) => `${h.name} (${h.guests.length} guests)`).join(', ')}; node files under ${workDir}`,
  );
  out(
    `  replayed hosts (real drivers on captured outputs): ${REPLAYED_HOSTS.map((h) => `${h.name} (${h.driver})`).join(', ')}`,
  );
  if (real) {
    out(
      `  real KVM host ${REAL_KVM_HOST} (libvirtd on ${real.kvm.uri}, QEMU guests under TCG, events watched): ${real.guests.join(', ')}`,
    );
    out(`  try: virsh -c ${real.kvm.uri} destroy ${real.guests[1]}   (on the map within a second or two)`);
  }
  out(
    `  agents scan every ${options.intervalSec}s; the fleet changes every ${options.intervalSec * 3}s. Ctrl-C stops.`,
  );

  let step = 0;
  const changeTimer = setInterval(() => {
    if (step > 0 && step % (TIMELINE.length + 1) === 0) {
      // One round done: start again from the initial fleet so the map keeps moving.
      fleet.splice(0, fleet.length, ...initialFleet());
      out(`demo: the fleet returns to its initial state; ${SILENT_HOST} reports again`);
      const silent = REPLAYED_HOSTS.find((h) => h.name === SILENT_HOST);
      if (silent && !replayed.has(silent.name)) void startReplayed(silent).then((a) => replayed.set(silent.name, a));
    } else if (step % (TIMELINE.length + 1) === TIMELINE.length) {
      const agent = replayed.get(SILENT_HOST);
      replayed.delete(SILENT_HOST);
      void agent?.stop();
      out(`demo: ${SILENT_HOST} goes silent (its agent stops); host-silent fires after ${options.intervalSec * 3}s`);
    } else {
      const change = TIMELINE[step % (TIMELINE.length + 1)];
      change.apply(fleet);
      out(`demo: ${change.describe}`);
    }
    step++;
    for (const host of fleet) writeHost(path.join(workDir, host.name), host);
  }, options.intervalSec * 3000);
  // A map line when the map changed, not every interval.
  let lastSummary = '';
  const printSummary = () => {
    const now = summary(collector);
    if (now !== lastSummary) out(`map: ${now}`);
    lastSummary = now;
  };
  const summaryTimer = setInterval(printSummary, options.intervalSec * 1000);

  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (options.durationSec) setTimeout(done, options.durationSec * 1000).unref();
  });
  clearInterval(changeTimer);
  clearInterval(summaryTimer);
  out(`map: ${summary(collector)}`);
  await Promise.all([...kvmAgents, ...replayed.values(), ...(real ? [real.agent] : [])].map((a) => a.stop()));
  await real?.kvm.stop();
  await collector.close();
  // Each run starts from scratch: its hosts' files and (unless --db was given) its database go.
  rmSync(workDir, { recursive: true, force: true });
  return 0;
}

const REAL_KVM_HOST = 'kvm-real';

/**
 * `--real-kvm`: a real libvirtd with three tiny real guests (RHEL 9.4, Debian 12, and a RHEL upgraded
 * in place from 8.6) whose guest agent answers, and an agent for it that watches libvirt's events.
 * Returns why not, as a sentence, when this machine cannot run it.
 */
async function startRealKvmHost(
  collector: RunningCollector,
  workDir: string,
  options: DemoOptions,
  hostFacts: () => Promise<HostFacts>,
  logger: Logger,
  out: (line: string) => void,
): Promise<{ kvm: RealKvm; agent: RunningAgent; guests: string[] } | string> {
  let kvm: RealKvm;
  try {
    kvm = await startRealKvm(path.join(workDir, REAL_KVM_HOST));
  } catch (err) {
    if (err instanceof RealKvmUnavailable) return err.message;
    throw err;
  }
  out('  booting three tiny real QEMU guests (TCG, 128 MiB each): 10 to 40 s on two cores…');
  const guests = [
    await kvm.define({
      name: 'rhel94',
      osRelease: OS_RELEASES.rhel94,
      libosinfo: 'http://redhat.com/rhel/9.4',
      agent: 'running',
    }),
    await kvm.define({
      name: 'debian12',
      osRelease: OS_RELEASES.debian12,
      libosinfo: 'http://debian.org/debian/12',
      agent: 'running',
    }),
    await kvm.define({
      name: 'upgraded',
      osRelease: OS_RELEASES.rhel94,
      libosinfo: 'http://redhat.com/rhel/8.6',
      agent: 'running',
    }),
  ];
  await Promise.all(guests.map((name) => kvm.start(name)));
  const agent = await runAgent({
    collectorUrl: collector.agentUrl,
    token: collector.tokens.create(REAL_KVM_HOST).token,
    drivers: [libvirtDriver({ uri: kvm.uri })],
    runner: localRunner(),
    stateDir: path.join(workDir, REAL_KVM_HOST, 'state'),
    intervalSec: options.intervalSec,
    hostname: `${REAL_KVM_HOST}.demo`,
    hostFacts,
    logger,
  });
  return { kvm, agent, guests };
}

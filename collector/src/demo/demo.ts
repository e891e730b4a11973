import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { collectHostFacts, libvirtDriver, localRunner, runAgent } from '@hvmap/agent';
import { type RunningCollector, startCollector } from '../collector.js';
import { createLogger } from '../log.js';
import { readReport } from '../store/report.js';
import { type DemoHost, initialFleet, nodeXml, TIMELINE } from './fleet.js';

export interface DemoOptions {
  listen: string;
  db?: string;
  intervalSec: number;
  /** Stop after this long; run until a signal when absent. */
  durationSec?: number;
  out: (line: string) => void;
}

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
  return `${report.hosts.length} hosts, ${report.guests.length} guests: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}${eol ? `; ${eol} past end of support` : ''}`;
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
  const logger = createLogger(process.env.HVMAP_LOG_LEVEL ?? 'warn');
  const collector = await startCollector({
    db: dbFile,
    listen: options.listen,
    intervalSec: options.intervalSec,
    logger,
  });

  const fleet = initialFleet();
  const agents = await Promise.all(
    fleet.map((host) => {
      const dir = path.join(workDir, host.name);
      writeHost(dir, host);
      const { token } = collector.tokens.create(host.name);
      return runAgent({
        collectorUrl: collector.agentUrl,
        token,
        drivers: [libvirtDriver({ uri: `test://${path.join(dir, 'node.xml')}` })],
        runner: localRunner({ root: path.join(dir, 'root') }),
        stateDir: path.join(dir, 'state'),
        intervalSec: options.intervalSec,
        hostname: `${host.name}.demo`,
        // Every simulated host runs on this machine: only its name tells them apart.
        hostFacts: async () => ({
          ...(await collectHostFacts()),
          hostname: `${host.name}.demo`,
          systemUuid: undefined,
        }),
        logger: logger.child({ component: 'agent', host: host.name }),
      });
    }),
  );

  out(`hvmap demo: collector on ${collector.url}, database ${dbFile}`);
  out(`  map (JSON):  ${collector.url}/api/report      CSV: ${collector.url}/api/report?format=csv`);
  out(`  in a terminal: npx hvmap report --collector ${collector.url}`);
  out(`  fleet: ${fleet.map((h) => `${h.name} (${h.guests.length} guests)`).join(', ')}; node files under ${workDir}`);
  out(
    `  agents scan every ${options.intervalSec}s; the fleet changes every ${options.intervalSec * 3}s. Ctrl-C stops.`,
  );

  let step = 0;
  const changeTimer = setInterval(() => {
    if (step > 0 && step % TIMELINE.length === 0) {
      // One round done: start again from the initial fleet so the map keeps moving.
      fleet.splice(0, fleet.length, ...initialFleet());
      out('demo: the fleet returns to its initial state');
    } else {
      const change = TIMELINE[step % TIMELINE.length];
      change.apply(fleet);
      out(`demo: ${change.describe}`);
    }
    step++;
    for (const host of fleet) writeHost(path.join(workDir, host.name), host);
  }, options.intervalSec * 3000);
  const summaryTimer = setInterval(() => out(`map: ${summary(collector)}`), options.intervalSec * 1000);

  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (options.durationSec) setTimeout(done, options.durationSec * 1000).unref();
  });
  clearInterval(changeTimer);
  clearInterval(summaryTimer);
  out(`map: ${summary(collector)}`);
  await Promise.all(agents.map((a) => a.stop()));
  await collector.close();
  return 0;
}

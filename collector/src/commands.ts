/** The `hvmap` command line: every command, and how failures map to exit codes. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DRIVERS, formatTable, identify } from '@hvmap/agent';
import { identifyGuestOsText, identifyHypervisorText } from '@hvmap/shared';
import { Command, CommanderError, Option, type OptionValues } from 'commander';
import { pollOverSsh, SCAN_DEFAULTS, scanOverSsh } from './agentless/scan.js';
import { type AlertRecord, AlertStore, listAlerts } from './alerts/store.js';
import { OperatorTokens } from './api/operators.js';
import { formatView, getJson, VIEWS, type ViewName, viewFromCollector, viewFromDb } from './api/report-views.js';
import { findGaps, type Gaps, writeGapTemplates } from './catalog/gaps.js';
import { programNames, validateCatalogDir } from './catalog/load.js';
import {
  COLLECTOR_DEFAULTS,
  loadCollectorCatalog,
  PollFileError,
  SHIPPED_CATALOG_DIR,
  startCollector,
} from './collector.js';
import { evaluate } from './compat/evaluate.js';
import { explain } from './compat/explain.js';
import { runDemo } from './demo/demo.js';
import { buildAgentBundle, MIN_NODE_MAJOR } from './install/bundle.js';
import { defaultSshAuth, INSTALL_DEFAULTS, registerInstallCommands } from './install/command.js';
import { KnownHostsFile } from './install/known-hosts.js';
import type { SshAuth } from './install/ssh.js';
import { parseTarget, type Target } from './install/target.js';
import { createLogger } from './log.js';
import { isCalendarDate, today } from './map/evaluator.js';
import { makePlan, PlanError, type PlanRequest, planText, readFleet } from './plan/plan.js';
import { guestsCsv, reportTable } from './report/format.js';
import { printable, terminalTable } from './report/hygiene.js';
import { ListenError } from './server/http.js';
import { DatabaseFileError, isPostgresUrl, openDatabase } from './store/db.js';
import { type Report, readReport } from './store/report.js';
import { TokenError, TokenStore } from './store/tokens.js';
import { parseHosts, TLS_DEFAULTS, TlsInitError, tlsInit } from './tls/init.js';

/** Usage errors exit 2; everything else that fails exits 1 (DESIGN.md CLI contract). */
class UsageError extends Error {}

/** What `hvmap check` takes, said when it could not use what it was given. */
const CHECK_FORMS = {
  hypervisor:
    'give the hypervisor as a person or tool writes it: "Hyper-V on Windows Server 2019", "Windows Server 2012 R2 Hyper-V", "RHEL 9.2 KVM", "VMware ESXi 8.0", "Citrix Hypervisor 8.2", "Azure Stack HCI 22H2"',
  guest:
    'give the guest OS as a person or tool writes it: "Red Hat Enterprise Linux Server release 7.9 (Maipo)", "Windows Server 2022 Datacenter", "Ubuntu 22.04.3 LTS", "http://redhat.com/rhel/8.6", "SUSE Linux Enterprise Server 15 SP5"',
} as const;

/** `--collector` of the reading commands: an http(s) URL, said plainly when it is not one. */
function collectorOption(text: string): string {
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {}
  if (!url || !/^https?:$/.test(url.protocol))
    throw new UsageError(`--collector must be the collector's http(s) URL, e.g. http://127.0.0.1:8600; got "${text}"`);
  return text;
}

/** The reading commands' other source, named when their --db does not exist. */
const READ_ELSE = '--collector URL to ask a running collector';

const STATUSES = ['certified', 'not-certified', 'unknown'];

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

async function fetchReport(collector: string, status?: string, token?: string): Promise<Report> {
  const url = new URL('/api/report', collector);
  if (status) url.searchParams.set('status', status);
  return getJson<Report>(url, token);
}

function readReportFromDb(file: string, status?: string): Report {
  const db = openDatabase(file, { readonly: true, orElse: READ_ELSE });
  try {
    return readReport(db, { status });
  } finally {
    db.close();
  }
}

const DB_HELP = 'the SQLite database file, or a PostgreSQL database as postgres://USER[:PASSWORD]@HOST:PORT/DB';

export function buildProgram(): Command {
  const program = new Command('hvmap')
    .description('hvmap collector: hypervisor inventory and the Microsoft / Red Hat compatibility map')
    .exitOverride()
    .showHelpAfterError();

  program
    .command('serve')
    .description('run the collector: agents connect at ws://LISTEN/agent, reports at http://LISTEN/api/report')
    .option('--listen <host:port>', 'address to bind (loopback unless told otherwise)', COLLECTOR_DEFAULTS.listen)
    .option('--db <path>', DB_HELP, COLLECTOR_DEFAULTS.db)
    .option('--catalog <dir>', 'directory of local catalog files merged over the shipped ones')
    .option('--interval <seconds>', 'scan interval asked of agents', String(COLLECTOR_DEFAULTS.intervalSec))
    .option(
      '--trust-proxy-header <name>',
      'a reverse proxy authenticates operators and names them in this header (e.g. X-Forwarded-User); the page and API then ask every request for it or an operator token',
    )
    .option('--webhook <url>', 'POST alerts to this URL (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--webhook-secret-file <file>', 'sign webhook bodies with the secret in this file (HMAC-SHA256)')
    .option('--eol-warn-days <days>', 'warn this long before an end of support', String(COLLECTOR_DEFAULTS.eolWarnDays))
    .option(
      '--silent-after <seconds>',
      'raise host-silent after this long without contact (default: 3 intervals, at least 180)',
    )
    .option('--tls-cert <file>', 'PEM certificate (chain): serve https:// and wss:// (hvmap tls init makes one)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option(
      '--insecure-plaintext',
      'allow a --listen beyond loopback without TLS (tokens and inventory then cross the network in clear)',
    )
    .option(
      '--max-connections-per-address <n>',
      'concurrent connections one remote address may hold; 0: no limit (raise it behind a proxy or NAT)',
      String(COLLECTOR_DEFAULTS.maxConnectionsPerAddress),
    )
    .option(
      '--max-live-pages <n>',
      'pages following the map live at once; beyond, a page is refused (503)',
      String(COLLECTOR_DEFAULTS.maxLivePages),
    )
    .option(
      '--max-guests-per-host <n>',
      'guests one snapshot may hold; a host above it is refused',
      String(COLLECTOR_DEFAULTS.maxGuestsPerHost),
    )
    .option(
      '--max-removed-guests <n>',
      'guests a host keeps after they left it (newest first)',
      String(COLLECTOR_DEFAULTS.maxRemovedGuestsPerHost),
    )
    .option(
      '--max-changes-per-host <n>',
      'change rows a host keeps (newest first)',
      String(COLLECTOR_DEFAULTS.maxChangesPerHost),
    )
    .option(
      '--retention-days <n>',
      'forget removed guests, change rows and resolved alerts older than this',
      String(COLLECTOR_DEFAULTS.retentionDays),
    )
    .option(
      '--poll <file>',
      'agentless: read the hosts in FILE over SSH on the scan interval (lines: USER@HOST[:PORT] [name=] [identity=] [libvirt-uri=] [driver=] [sudo=yes]; SIGHUP rereads it)',
    )
    .option('--known-hosts <file>', 'known_hosts checked for polled hosts (unknown and changed keys are refused)')
    .option(
      '--identity <key>',
      'private key for polled hosts whose line names none (default: ssh-agent, else ~/.ssh/id_*)',
    )
    .option('--poll-parallel <n>', 'hosts polled at once', String(COLLECTOR_DEFAULTS.pollParallel))
    .option(
      '--poll-deadline <seconds>',
      'end a poll still running after this long',
      String(COLLECTOR_DEFAULTS.pollDeadlineMs / 1000),
    )
    .option('--config <file>', 'JSON file of these options by their long names (listen, db, webhook, ...); flags win')
    .action(async (_opts, command: Command) => {
      const opts = withConfigFile(command);
      if (!opts.poll && (opts.knownHosts || opts.identity))
        throw new UsageError('--known-hosts and --identity go with --poll FILE');
      if (opts.poll && !existsSync(opts.poll)) throw new UsageError(`--poll ${opts.poll}: no such file`);
      if (opts.identity && !existsSync(opts.identity))
        throw new UsageError(`--identity ${opts.identity}: no such file`);
      const logger = createLogger();
      for (const url of opts.webhook as string[]) {
        if (!/^https?:\/\//.test(url)) throw new UsageError(`--webhook must be an http(s) URL, got "${url}"`);
      }
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey))
        throw new UsageError('give --tls-cert and --tls-key together');
      const tls = opts.tlsCert
        ? { cert: readPem(opts.tlsCert, '--tls-cert'), key: readPem(opts.tlsKey, '--tls-key') }
        : undefined;
      const maxPerAddress = Number(opts.maxConnectionsPerAddress);
      if (!Number.isInteger(maxPerAddress) || maxPerAddress < 0)
        throw new UsageError(
          `--max-connections-per-address must be a whole number (0: no limit), got "${opts.maxConnectionsPerAddress}"`,
        );
      const collector = await startCollector({
        db: opts.db,
        listen: opts.listen,
        localCatalogDir: opts.catalog,
        intervalSec: positiveInt(opts.interval, '--interval'),
        trustProxyHeader: opts.trustProxyHeader,
        eolWarnDays: positiveInt(opts.eolWarnDays, '--eol-warn-days'),
        silentAfterSec: opts.silentAfter ? positiveInt(opts.silentAfter, '--silent-after') : undefined,
        tls,
        insecurePlaintext: opts.insecurePlaintext === true,
        maxConnectionsPerAddress: maxPerAddress,
        maxLivePages: positiveInt(opts.maxLivePages, '--max-live-pages'),
        maxGuestsPerHost: positiveInt(opts.maxGuestsPerHost, '--max-guests-per-host'),
        maxRemovedGuestsPerHost: positiveInt(opts.maxRemovedGuests, '--max-removed-guests'),
        maxChangesPerHost: positiveInt(opts.maxChangesPerHost, '--max-changes-per-host'),
        retentionDays: positiveInt(opts.retentionDays, '--retention-days'),
        webhooks: {
          urls: opts.webhook,
          secret: opts.webhookSecretFile ? readFileSync(opts.webhookSecretFile, 'utf8').trim() : undefined,
        },
        poll: opts.poll
          ? {
              file: path.resolve(opts.poll),
              defaultUser: process.env.USER ?? 'root',
              scan: pollOverSsh({
                knownHosts: new KnownHostsFile(path.resolve(opts.knownHosts ?? INSTALL_DEFAULTS.knownHosts)),
                auth: defaultSshAuth(opts.identity, process.env),
                connectTimeoutMs: SCAN_DEFAULTS.connectTimeoutSec * 1000,
              }),
              parallel: positiveInt(opts.pollParallel, '--poll-parallel'),
              deadlineMs: positiveInt(opts.pollDeadline, '--poll-deadline') * 1000,
            }
          : undefined,
        logger,
      });
      // SIGHUP reloads the catalog without a restart (after `hvmap catalog validate DIR`), and the poll file.
      const onHup = () => {
        const result = collector.reloadCatalog();
        print(
          result.ok
            ? `catalog ${result.version} in force; ${result.changedGuests} changes`
            : `catalog refused: ${result.error}`,
        );
        const polled = collector.poller?.load();
        if (polled) print(polled.ok ? `polling ${polled.hosts} hosts over SSH` : `poll file refused: ${polled.error}`);
      };
      process.on('SIGHUP', onHup);
      print(
        `hvmap collector on ${collector.url}  (live map: ${collector.url}/; agents: ${collector.agentUrl}; API: ${collector.url}/api/)`,
      );
      if (collector.web.guard.options.requireToken)
        print('operators sign in with a token: hvmap tokens create --operator NAME, then open the page with ?token=…');
      const signal = await waitForSignal();
      process.off('SIGHUP', onHup);
      logger.info({ signal, agentsConnected: collector.sessions.connected }, 'shutting down');
      await collector.close();
      logger.info('stopped');
    });

  program
    .command('demo')
    .description('a collector plus a demo fleet of simulated hosts whose agents run the real drivers')
    .option('--listen <host:port>', 'address to bind', COLLECTOR_DEFAULTS.listen)
    .option('--db <path>', 'SQLite database file (default: a fresh file under ./data/)')
    .option('--interval <seconds>', 'scan interval of the demo agents', '5')
    .option('--duration <seconds>', 'stop after this many seconds (default: run until Ctrl-C)')
    .option('--insecure-plaintext', 'allow a --listen beyond loopback (the demo has no TLS)')
    .option('--real-kvm', 'add a real KVM host: libvirtd with tiny real QEMU guests (root; Debian packages)')
    .action(async (opts) => {
      const code = await runDemo({
        realKvm: opts.realKvm === true,
        listen: opts.listen,
        insecurePlaintext: opts.insecurePlaintext === true,
        db: opts.db,
        intervalSec: positiveInt(opts.interval, '--interval'),
        durationSec: opts.duration ? positiveInt(opts.duration, '--duration') : undefined,
        out: print,
      });
      process.exitCode = code;
    });

  program
    .command('check')
    .description('is this guest OS supported on this hypervisor? (answers from the catalog)')
    .requiredOption('--hypervisor <text>', 'e.g. "Hyper-V on Windows Server 2019", "RHEL 9.2 KVM"')
    .requiredOption(
      '--guest <text>',
      'e.g. "Red Hat Enterprise Linux Server release 7.9 (Maipo)", "Windows Server 2022"',
    )
    .option('--date <YYYY-MM-DD>', 'evaluation date (end-of-life flags)', today())
    .option('--catalog <dir>', 'local catalog files merged over the shipped ones')
    .option('--json', 'print one JSON object')
    .action((opts) => {
      if (!isCalendarDate(opts.date))
        throw new UsageError(`--date must be a calendar date YYYY-MM-DD, got "${opts.date}"`);
      for (const flag of ['hypervisor', 'guest'] as const)
        if (!String(opts[flag]).trim()) throw new UsageError(`--${flag} is empty: ${CHECK_FORMS[flag]}`);
      const catalog = loadCollectorCatalog(opts.catalog);
      const hv = identifyHypervisorText(opts.hypervisor);
      const guest = identifyGuestOsText(opts.guest);
      const verdict = evaluate(hv, guest, catalog, opts.date);
      const out = {
        hypervisor: hv ? { id: hv.id, product: hv.product, version: hv.version } : null,
        guest: guest
          ? { id: guest.id, family: guest.family, distro: guest.distro, version: guest.version, name: guest.name }
          : null,
        status: verdict.status,
        eol: verdict.eol ? { date: verdict.eol.date } : null,
        programs: verdict.programs,
        why: explain({
          ...verdict,
          osUnknownReason: guest ? null : 'unrecognised',
          osUnknownDetail: guest ? null : `"${opts.guest}"`,
        }),
      };
      if (opts.json) return print(JSON.stringify(out, null, 2));
      const lines = [
        `hypervisor: ${hv ? hv.name : `not identified ("${opts.hypervisor}")`}`,
        `guest:      ${guest ? guest.name : `not identified ("${opts.guest}")`}`,
        `status:     ${verdict.status}${verdict.eol ? ` (end of support ${verdict.eol.date})` : ''}`,
        ...out.why.map((w) => `why:        ${w}`),
        ...(hv ? [] : [`hint:       ${CHECK_FORMS.hypervisor}`]),
        ...(guest ? [] : [`hint:       ${CHECK_FORMS.guest}`]),
        ...verdict.programs.map(
          (p) =>
            `  ${p.program}: ${p.verdict}${p.conditions.length ? ` [${p.conditions.join('; ')}]` : ''}${p.source ? `  ${p.source}` : ''}`,
        ),
      ];
      print(lines.join('\n'));
    });

  program
    .command('scan')
    .description("agentless: one inventory of a host over SSH, by the agent's drivers; nothing is written on the host")
    .requiredOption('--ssh <user@host[:port]>', 'the host to read')
    .option('--identity <key>', 'private key file (default: the ssh-agent at $SSH_AUTH_SOCK, else ~/.ssh/id_*)')
    .option('--known-hosts <file>', 'known_hosts checked for the host key', INSTALL_DEFAULTS.knownHosts)
    .option(
      '--accept-fingerprint <SHA256:…>',
      'accept this host key if known_hosts does not list the host (as ssh prints it); a changed key is always refused',
    )
    .option('--accept-new-host-key', 'accept and record the key of a host known_hosts does not list')
    .option('--driver <name>', `auto, or one of ${DRIVERS.map((d) => d.name).join(', ')}`, 'auto')
    .option('--libvirt-uri <uri>', 'libvirt connection URI on the host, e.g. qemu:///system (read-only is enough)')
    .option(
      '--sudo',
      'run each command through sudo -n (POSIX hosts; the sudoers rules: collector/src/agentless/README.md)',
    )
    .option(
      '--connect-timeout <seconds>',
      'give up on a host that does not answer SSH in this long',
      String(SCAN_DEFAULTS.connectTimeoutSec),
    )
    .option('--json', 'print the inventory as JSON (as hvmap-agent scan --json does)')
    .action(async (opts) => {
      if (opts.driver !== 'auto' && !DRIVERS.some((d) => d.name === opts.driver))
        throw new UsageError(
          `--driver ${opts.driver} is not a driver; expected auto or one of: ${DRIVERS.map((d) => d.name).join(', ')}`,
        );
      if (opts.acceptFingerprint && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(opts.acceptFingerprint))
        throw new UsageError(
          `--accept-fingerprint ${opts.acceptFingerprint} is not a SHA256:… fingerprint as ssh prints it`,
        );
      let target: Target;
      try {
        target = parseTarget(opts.ssh, process.env.USER ?? 'root');
      } catch (err) {
        throw new UsageError(`--ssh: ${(err as Error).message}`);
      }
      const auth = sshLogin(opts.identity);
      const inventory = identify(
        await scanOverSsh({
          target,
          auth,
          knownHosts: new KnownHostsFile(path.resolve(opts.knownHosts)),
          acceptNewHostKey: opts.acceptNewHostKey === true,
          acceptFingerprints: opts.acceptFingerprint ? [opts.acceptFingerprint] : [],
          driver: opts.driver,
          libvirtUri: opts.libvirtUri,
          sudo: opts.sudo === true,
          connectTimeoutMs: positiveInt(opts.connectTimeout, '--connect-timeout') * 1000,
        }),
      );
      process.stdout.write(opts.json ? `${JSON.stringify(inventory, null, 2)}\n` : formatTable(inventory));
      // As hvmap-agent scan: a partial inventory (a driver failed, no hypervisor found) exits 1.
      if (inventory.partial) process.exitCode = 1;
    });

  program
    .command('plan')
    .description(
      'what if: the guests of hosts on another hypervisor (--host NAME --to HYPERVISOR), or where a guest stays supported (--guest HOST/GUEST)',
    )
    .option(
      '--host <name>',
      'a host to plan (agent name or hostname; repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--hosts-matching <pattern>', 'every host whose agent name or hostname matches (* and ? wildcards)')
    .option('--to <hypervisor>', 'what the hosts would run, as hvmap check --hypervisor takes it')
    .option('--guest <host/guest>', 'a guest, by its host and its name or UUID')
    .option('--candidates <hypervisors...>', "with --guest: hypervisors to weigh beside the fleet's own")
    .option('--collector <url>', 'plan on a running collector, with its catalog (http://HOST:PORT)', collectorOption)
    .option('--db <path>', `${DB_HELP} to read`, COLLECTOR_DEFAULTS.db)
    .option('--catalog <dir>', 'with --db: local catalog files merged over the shipped ones')
    .option('--token <token>', 'operator token for a collector not on loopback', process.env.HVMAP_OPERATOR_TOKEN)
    .option('--date <YYYY-MM-DD>', 'evaluation date (end-of-life flags)', today())
    .option('--json', 'print one JSON object')
    .action(async (opts) => {
      if (!isCalendarDate(opts.date))
        throw new UsageError(`--date must be a calendar date YYYY-MM-DD, got "${opts.date}"`);
      const request: PlanRequest = {
        hosts: opts.host,
        matching: opts.hostsMatching,
        to: opts.to,
        guest: opts.guest,
        candidates: opts.candidates ?? [],
        date: opts.date,
      };
      let plan: ReturnType<typeof makePlan>;
      try {
        if (opts.collector) {
          const url = new URL('/api/plan', opts.collector);
          for (const h of request.hosts) url.searchParams.append('host', h);
          for (const c of request.candidates) url.searchParams.append('candidate', c);
          for (const k of ['matching', 'to', 'guest', 'date'] as const) {
            const v = request[k];
            if (v !== undefined) url.searchParams.set(k, v);
          }
          plan = await getJson(url, opts.token);
        } else {
          const db = openDatabase(opts.db, { readonly: true, orElse: READ_ELSE });
          try {
            plan = makePlan(readFleet(db), request, loadCollectorCatalog(opts.catalog));
          } finally {
            db.close();
          }
        }
      } catch (err) {
        // What was not understood, from here or from the collector's 400: bad usage either way.
        if (err instanceof PlanError || (err as { status?: number }).status === 400)
          throw new UsageError((err as Error).message);
        throw err;
      }
      print(opts.json ? JSON.stringify(plan, null, 2) : planText(plan));
    });

  program
    .command('report')
    .description('the compatibility map: every host and guest with its status')
    .option('--collector <url>', 'read from a running collector (http://HOST:PORT)', collectorOption)
    .option('--db <path>', `${DB_HELP} to read`, COLLECTOR_DEFAULTS.db)
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .addOption(new Option('--status <status>', 'only guests with this status').choices(STATUSES))
    .addOption(
      new Option('--view <view>', 'one of the API\'s views instead of the whole map (README "API")').choices(VIEWS),
    )
    .option('--host <hostname>', 'guests view: only this host')
    .option('--hypervisor <id>', 'guests and hosts views: only this hypervisor id (or "unidentified")')
    .option('--os <id>', 'guests view: only this guest OS id, e.g. rhel-9.2 (or "unidentified")')
    .option('--program <name>', 'guests view: only guests this catalog program speaks of')
    .option('--verdict <verdict>', 'guests view: with --program, only this verdict (covered, excluded, silent)')
    .option('--search <text>', 'guests and hosts views: names, UUIDs or OS containing this text')
    .option('--token <token>', 'operator token for a collector not on loopback', process.env.HVMAP_OPERATOR_TOKEN)
    .action(async (opts) => {
      if (opts.view) {
        const params = new URLSearchParams();
        const set = (k: string, v: string | undefined) => v && params.set(k, v);
        set('status', opts.status);
        set('host', opts.host);
        set('hypervisor', opts.hypervisor);
        set('os', opts.os);
        set('program', opts.program);
        set('verdict', opts.verdict);
        set('q', opts.search);
        const view = opts.view as ViewName;
        let data: Awaited<ReturnType<typeof viewFromCollector>>;
        if (opts.collector) data = await viewFromCollector(opts.collector, view, params, opts.token);
        else {
          const db = openDatabase(opts.db, { readonly: true, orElse: READ_ELSE });
          try {
            data = viewFromDb(db, view, params);
          } catch (err) {
            // A bad filter value is bad usage, as it is a 400 from the API.
            if ((err as { code?: string }).code === 'BAD_REQUEST') throw new UsageError((err as Error).message);
            throw err;
          } finally {
            db.close();
          }
        }
        process.stdout.write(formatView(data, opts.format));
        return;
      }
      const report = opts.collector
        ? await fetchReport(opts.collector, opts.status, opts.token)
        : readReportFromDb(opts.db, opts.status);
      if (opts.format === 'json') print(JSON.stringify(report, null, 2));
      else if (opts.format === 'csv') process.stdout.write(guestsCsv(report));
      else print(reportTable(report));
    });

  const alerts = program
    .command('alerts')
    .description('alerts: guests not certified, past end of support, unidentified; silent hosts; agent errors')
    .option('--collector <url>', 'read from a running collector (http://HOST:PORT)', collectorOption)
    .option('--db <path>', `${DB_HELP} to read`, COLLECTOR_DEFAULTS.db)
    .option('--token <token>', 'operator token for a collector not on loopback', process.env.HVMAP_OPERATOR_TOKEN)
    .addOption(new Option('--state <state>', 'only alerts in this state').choices(['firing', 'resolved']))
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts) => {
      let list: AlertRecord[];
      if (opts.collector) {
        const params = new URLSearchParams(opts.state ? { state: opts.state } : {});
        const data = await viewFromCollector(opts.collector, 'alerts', params, opts.token);
        list = (data as { items: AlertRecord[] }).items;
      } else {
        const db = openDatabase(opts.db, { readonly: true, orElse: READ_ELSE });
        try {
          list = listAlerts(db, { state: opts.state });
        } finally {
          db.close();
        }
      }
      if (opts.format === 'json') return print(JSON.stringify(list, null, 2));
      // The key last: it is what `hvmap alerts silence` takes.
      const table = terminalTable(['state', 'severity', 'kind', 'host', 'guest', 'since', 'message', 'key']);
      for (const a of list)
        table.push([
          a.state,
          a.severity,
          a.kind,
          a.host ?? '',
          a.guest ?? '',
          a.resolvedAt ?? a.firedAt,
          a.message,
          a.key,
        ]);
      print(`${table.toString()}\n${list.filter((a) => a.state === 'firing').length} firing, ${list.length} shown`);
    });
  alerts
    .command('silence <key>')
    .description('stop notifying one alert key (kind|agent|guest) for a while; it still shows')
    .requiredOption('--for <duration>', 'how long: 30m, 2h, 7d')
    .action((key, opts) => {
      // `alerts` holds --db (commander gives a parent's option to the parent wherever it is written).
      const file: string = alerts.opts().db;
      const m = /^(\d+)([mhd])$/.exec(opts.for);
      if (!m) throw new UsageError(`--for must look like 30m, 2h or 7d, got "${opts.for}"`);
      const ms = Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
      const until = new Date(Date.now() + ms).toISOString();
      const db = openDatabase(file);
      try {
        if (!new AlertStore(db).silence(key, until))
          throw new UsageError(`no alert with key "${key}" (hvmap alerts shows each key in its last column)`);
        print(`silenced ${key} until ${until}`);
      } finally {
        db.close();
      }
    });

  const tokens = program.command('tokens').description('per-agent tokens (stored hashed; shown once at creation)');
  const withDb = (cmd: Command) => cmd.option('--db <path>', DB_HELP, COLLECTOR_DEFAULTS.db);
  const operatorFlag = (cmd: Command) =>
    cmd.option('--operator', 'an operator token (the page and the API) instead of an agent token');
  withDb(
    operatorFlag(
      tokens.command('create <name>').description('create a token for one agent (or operator) and print it once'),
    ),
  )
    .option('--create', 'create the database when it does not exist yet (before the first hvmap serve)')
    .action((name, opts) => {
      const fresh = !isPostgresUrl(opts.db) && !existsSync(opts.db);
      const db = openDatabase(opts.db, { create: opts.create === true, orElse: '--create to start a new one there' });
      try {
        const { token } = opts.operator ? new OperatorTokens(db).create(name) : new TokenStore(db).create(name);
        print(token);
        if (fresh)
          process.stderr.write(
            `hvmap: created a new database at ${opts.db}: serve it with hvmap serve --db ${opts.db}\n`,
          );
      } finally {
        db.close();
      }
    });
  withDb(tokens.command('list').description('list tokens (never their values)')).action((opts) => {
    const db = openDatabase(opts.db);
    try {
      for (const t of new TokenStore(db).list()) {
        print(
          `${t.name}\t${t.revokedAt ? `revoked ${t.revokedAt}` : 'active'}\tcreated ${t.createdAt}\tagent ${t.agentId ?? '-'}\tlast hello ${t.lastHelloAt ?? '-'}`,
        );
      }
      for (const t of new OperatorTokens(db).list()) {
        print(`${t.name}\t${t.revokedAt ? `revoked ${t.revokedAt}` : 'active'}\tcreated ${t.createdAt}\toperator`);
      }
    } finally {
      db.close();
    }
  });
  withDb(
    operatorFlag(
      tokens.command('revoke <name>').description('revoke a token: its agent (or operator) is refused from now on'),
    ),
  ).action(async (name, opts) => {
    const db = openDatabase(opts.db);
    try {
      if (opts.operator) {
        new OperatorTokens(db).revoke(name);
        return print(`revoked ${name}`);
      }
      const tokens = new TokenStore(db);
      const wasConnected = tokens.isConnected(name);
      tokens.revoke(name);
      if (!wasConnected) return print(`revoked ${name}; it held no connection`);
      // The collector serving this database checks revocations every second and closes the connection.
      const deadline = Date.now() + 3000;
      while (tokens.isConnected(name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      print(
        tokens.isConnected(name)
          ? `revoked ${name}; its connection is still open after 3 s: is the collector serving this database running?`
          : `revoked ${name}; closed 1 connection`,
      );
    } finally {
      db.close();
    }
  });

  const catalogCmd = program.command('catalog').description('the certification catalog');
  catalogCmd
    .command('list')
    .option('--catalog <dir>', 'local catalog files merged over the shipped ones')
    .action((opts) => {
      const catalog = loadCollectorCatalog(opts.catalog);
      for (const p of catalog.programs) print(`${p.program}\t${p.rows.length} rows\t${p.coverage}\t${p.title}`);
      print(`catalog version ${catalog.version}`);
    });
  catalogCmd
    .command('show <program>')
    .option('--catalog <dir>', 'local catalog files merged over the shipped ones')
    .action((name, opts) => {
      const catalog = loadCollectorCatalog(opts.catalog);
      const p = catalog.programs.find((x) => x.program === name);
      if (!p) throw new UsageError(`no program "${name}"; known: ${catalog.programs.map((x) => x.program).join(', ')}`);
      print(JSON.stringify(p, null, 2));
    });
  catalogCmd
    .command('gaps')
    .description(
      "the fleet's undecided (hypervisor, guest OS) pairs, most guests first; --template writes rows to fill in",
    )
    .option('--collector <url>', 'read from a running collector (http://HOST:PORT)', collectorOption)
    .option('--db <path>', `${DB_HELP} to read`, COLLECTOR_DEFAULTS.db)
    .option('--token <token>', 'operator token for a collector not on loopback', process.env.HVMAP_OPERATOR_TOKEN)
    .option(
      '--template <dir>',
      'write one local-rows file per program that could decide a gap, rows waiting for verdict and source',
    )
    .option('--json', 'print one JSON object')
    .action(async (opts) => {
      let gaps: Gaps;
      if (opts.collector) gaps = await getJson<Gaps>(new URL('/api/gaps', opts.collector), opts.token);
      else {
        const db = openDatabase(opts.db, { readonly: true, orElse: READ_ELSE });
        try {
          gaps = findGaps(db);
        } finally {
          db.close();
        }
      }
      if (opts.json) print(JSON.stringify(gaps, null, 2));
      else {
        for (const g of gaps.pairs) {
          print([g.guests, `${g.guest.name} on ${g.hypervisor.name}`, g.hosts.join(', ')].map(printable).join('\t'));
          for (const w of g.why) print(`\t${printable(w)}`);
        }
        print(
          `${gaps.pairs.length} undecided pairs; ${gaps.unidentified} unknown guests whose OS or hypervisor is not identified (no catalog row can decide them)`,
        );
      }
      if (opts.template) {
        const files = writeGapTemplates(opts.template, gaps.pairs, today());
        const undecidable = gaps.pairs.filter((g) => g.programs.length === 0).length;
        process.stderr.write(
          `${files.length ? `wrote ${files.join(', ')}: fill in each row's verdict, source and date, then "hvmap catalog validate ${opts.template}" and SIGHUP the collector` : 'no template written'}${undecidable ? `; ${undecidable} pairs no program speaks of need a program of their own ("newProgram": true)` : ''}\n`,
        );
      }
    });
  catalogCmd
    .command('validate [dir]')
    .description(
      'check catalog files: a directory of local rows against the shipped programs (default: the shipped ones)',
    )
    .action((dir) => {
      const problems = dir
        ? validateCatalogDir(dir, programNames(SHIPPED_CATALOG_DIR))
        : validateCatalogDir(SHIPPED_CATALOG_DIR);
      for (const p of problems) print(p);
      if (problems.length) process.exitCode = 1;
      else print('catalog valid');
    });

  program
    .command('agent-bundle')
    .description('write the single-file agent the installer puts on hosts, for your own tools (Ansible, a package)')
    .requiredOption('--out <dir>', 'where dist/hvmap-agent.js and package.json go')
    .action(async (opts) => {
      const bundle = await buildAgentBundle();
      mkdirSync(path.join(opts.out, 'dist'), { recursive: true });
      writeFileSync(path.join(opts.out, 'dist', 'hvmap-agent.js'), bundle.script);
      writeFileSync(path.join(opts.out, 'package.json'), bundle.packageJson);
      print(
        `wrote hvmap-agent ${bundle.version} to ${opts.out}: copy the folder to a host with Node.js ${MIN_NODE_MAJOR} or later and run\n` +
          `  HVMAP_TOKEN=hvm_… node ${path.join(opts.out, 'dist', 'hvmap-agent.js')} run --collector wss://COLLECTOR:8600/agent --ca ca.crt`,
      );
    });

  program
    .command('tls')
    .description('TLS for the collector')
    .command('init')
    .description(
      'make a private CA (kept when DIR has one) and a server certificate for the collector; prints what to copy where',
    )
    .requiredOption('--dir <dir>', 'where the CA and the certificate go (keys: mode 0600)')
    .requiredOption('--hosts <names>', 'comma-separated DNS names and IP addresses agents use to reach the collector')
    .option('--days <days>', 'validity of the server certificate', String(TLS_DEFAULTS.serverDays))
    .action(async (opts) => {
      let hosts: string[];
      try {
        hosts = parseHosts(opts.hosts);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      print(await tlsInit({ dir: opts.dir, hosts, serverDays: positiveInt(opts.days, '--days') }));
    });

  registerInstallCommands(program, (message) => new UsageError(message));

  return program;
}

function readPem(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (!text.includes('-----BEGIN ')) throw new UsageError(`${flag} ${file} is not a PEM file`);
  return text;
}

/**
 * The options of a command, with those of its `--config` file filled in where the command line gave
 * none. The file holds one JSON object whose keys are the options' long names ("listen",
 * "webhook-secret-file" or "webhookSecretFile"); an unknown key is bad usage, so a typo is not ignored.
 */
function withConfigFile(command: Command): OptionValues {
  const opts = command.opts();
  if (!opts.config) return opts;
  let file: unknown;
  try {
    file = JSON.parse(readFileSync(opts.config, 'utf8'));
  } catch (err) {
    throw new UsageError(`--config ${opts.config}: ${(err as Error).message}`);
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw new UsageError(`--config ${opts.config}: expected one JSON object of options`);
  }
  const known = new Map(command.options.map((o) => [o.attributeName(), o]));
  for (const [key, value] of Object.entries(file)) {
    const name = key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const option = known.get(name);
    if (!option || name === 'config') throw new UsageError(`--config ${opts.config}: unknown option "${key}"`);
    if (command.getOptionValueSource(name) === 'cli') continue;
    const repeatable = Array.isArray(option.defaultValue);
    if (repeatable ? !Array.isArray(value) : !['string', 'number', 'boolean'].includes(typeof value)) {
      throw new UsageError(
        `--config ${opts.config}: "${key}" must be ${repeatable ? 'a list' : 'a string, number or boolean'}`,
      );
    }
    opts[name] = repeatable ? (value as unknown[]).map(String) : typeof value === 'boolean' ? value : String(value);
  }
  return opts;
}

/** How `scan --ssh` logs in: --identity, else the ssh-agent, else ssh's default keys. */
function sshLogin(identity: string | undefined): SshAuth {
  if (identity && !existsSync(identity)) throw new UsageError(`--identity ${identity}: no such file`);
  const auth = defaultSshAuth(identity, process.env);
  if (!auth.identity && !auth.agent)
    throw new UsageError('no way to log in: pass --identity KEY or run an ssh-agent (SSH_AUTH_SOCK)');
  return auth;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

/** Resolves with the signal that asked the process to stop. */
function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      process.stderr.write(`hvmap: ${err.message}\n`);
      return 2;
    }
    // Refused as configured (a listen without TLS, a key that does not match, a --db that is not
    // hvmap's): bad usage too.
    if (err instanceof ListenError || err instanceof DatabaseFileError || err instanceof PollFileError) {
      process.stderr.write(`hvmap: ${err.message} (${err.code})\n`);
      return 2;
    }
    const code =
      err instanceof TokenError || err instanceof TlsInitError
        ? err.code
        : ((err as { code?: string }).code ?? 'FAILED');
    process.stderr.write(`hvmap: ${(err as Error).message} (${code})\n`);
    return 1;
  }
}

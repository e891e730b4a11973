import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { agentArgs, guests, writeHost } from '../helpers/kvm-host.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

let dir: string;
/** The CA and certificate the collector serves with, and a second CA that signed nothing of it. */
let tls: string;
let otherTls: string;
let collector: RunningCollector | undefined;
const children: ReturnType<typeof startCli>[] = [];

const read = (file: string) => readFileSync(file, 'utf8');

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-tls-'));
  tls = path.join(dir, 'tls');
  otherTls = path.join(dir, 'other-tls');
  for (const d of [tls, otherTls]) {
    const made = await runCli(COLLECTOR_CLI, ['tls', 'init', '--dir', d, '--hosts', 'localhost,127.0.0.1']);
    expect(made.code, made.stderr).toBe(0);
  }
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c, 'SIGKILL')));
  await collector?.close();
  collector = undefined;
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function serveTls(extra: { requireOperatorToken?: boolean } = {}): Promise<RunningCollector> {
  collector = await startCollector({
    db: path.join(dir, `hvmap-${Date.now()}.db`),
    listen: '127.0.0.1:0',
    tls: { cert: read(path.join(tls, 'server.crt')), key: read(path.join(tls, 'server.key')) },
    logger: pino({ level: 'silent' }),
    ...extra,
  });
  return collector;
}

/** GET over https trusting only `ca`. */
function httpsGet(
  url: string,
  ca: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('hvmap tls init', () => {
  it('makes a private CA and a server certificate naming every host, keys readable by the owner only; run again it keeps the CA', async () => {
    const d = path.join(dir, 'init');
    const first = await runCli(COLLECTOR_CLI, ['tls', 'init', '--dir', d, '--hosts', 'hvmap.example,10.1.2.3']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('made a new CA');
    expect(first.stdout).toContain(`--tls-cert ${path.join(d, 'server.crt')} --tls-key ${path.join(d, 'server.key')}`);
    expect(first.stdout).toContain('--ca /etc/hvmap-agent/ca.crt');
    for (const key of ['ca.key', 'server.key']) expect(statSync(path.join(d, key)).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(read(path.join(d, 'ca.crt')));
    const server = new X509Certificate(read(path.join(d, 'server.crt')));
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkHost('hvmap.example')).toBe('hvmap.example');
    expect(server.checkIP('10.1.2.3')).toBe('10.1.2.3');
    expect(server.checkHost('other.example')).toBeUndefined();

    const again = await runCli(COLLECTOR_CLI, ['tls', 'init', '--dir', d, '--hosts', 'hvmap.example,hvmap2.example']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('kept the CA');
    expect(read(path.join(d, 'ca.crt'))).toBe(ca.toString());
    const reissued = new X509Certificate(read(path.join(d, 'server.crt')));
    expect(reissued.verify(ca.publicKey)).toBe(true);
    expect(reissued.checkHost('hvmap2.example')).toBe('hvmap2.example');
    expect(reissued.serialNumber).not.toBe(server.serialNumber);

    const bad = await runCli(COLLECTOR_CLI, ['tls', 'init', '--dir', d, '--hosts', 'a b,c']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"a b" is neither a DNS name nor an IP address');
  });
});

describe('TLS', () => {
  it('serves https and wss with the given certificate: an agent pinned with --ca delivers its inventory', async () => {
    const c = await serveTls();
    expect(c.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(c.agentUrl).toMatch(/^wss:\/\//);
    const token = c.tokens.create('kvm-tls').token;
    const hostDir = writeHost(dir, 'kvm-tls', guests(3));
    const agent = startCli(AGENT_CLI, agentArgs(c.agentUrl, hostDir, ['--ca', path.join(tls, 'ca.crt')]), {
      HVMAP_TOKEN: token,
    });
    children.push(agent);
    await waitFor(
      () => c.store.lastSeq('kvm-tls'),
      (seq) => seq !== null,
      20_000,
      `the agent's inventory over wss (agent log: ${agent.output().slice(-500)})`,
    );

    const ca = read(path.join(tls, 'ca.crt'));
    const health = await httpsGet(`${c.url}/healthz`, ca);
    expect(health.status).toBe(200);
    // The CLI reads over https when Node trusts the CA (README "TLS").
    const report = await runCli(COLLECTOR_CLI, ['report', '--collector', c.url, '--format', 'json'], {
      NODE_EXTRA_CA_CERTS: path.join(tls, 'ca.crt'),
    });
    expect(report.code, report.stderr).toBe(0);
    expect(JSON.parse(report.stdout).guests).toHaveLength(3);
    // Plain HTTP on the TLS port gets no answer from a route.
    await expect(fetch(c.url.replace('https:', 'http:'))).rejects.toThrow();
    // The usual mistakes are answered with what to do: the CA not given, the scheme wrong.
    const untrusted = await runCli(COLLECTOR_CLI, ['report', '--collector', c.url]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain('not trusted here; give its CA with NODE_EXTRA_CA_CERTS=');
    const plain = await runCli(COLLECTOR_CLI, ['report', '--collector', c.url.replace('https:', 'http:')]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('use https://');
  }, 40_000);

  it('sets the operator cookie Secure when served over TLS', async () => {
    const c = await serveTls({ requireOperatorToken: true });
    const { token } = c.operators.create('alice');
    const res = await httpsGet(`${c.url}/?token=${token}`, read(path.join(tls, 'ca.crt')));
    expect(res.status).toBe(303);
    expect(String(res.headers['set-cookie'])).toMatch(/; Secure$/);
  });

  it('an agent pinned to another CA, or trusting only the system CAs, refuses the collector before sending its token', async () => {
    const c = await serveTls();
    const token = c.tokens.create('kvm-tls').token;
    let requests = 0;
    c.server.prependListener('request', () => requests++);
    c.server.prependListener('upgrade', () => requests++);
    const hostDir = writeHost(dir, 'kvm-tls', guests(3));
    const pinnedElsewhere = startCli(
      AGENT_CLI,
      agentArgs(c.agentUrl, hostDir, ['--ca', path.join(otherTls, 'ca.crt'), '--state-dir', path.join(dir, 's1')]),
      { HVMAP_TOKEN: token },
    );
    const systemCas = startCli(AGENT_CLI, agentArgs(c.agentUrl, hostDir, ['--state-dir', path.join(dir, 's2')]), {
      HVMAP_TOKEN: token,
    });
    children.push(pinnedElsewhere, systemCas);
    for (const agent of [pinnedElsewhere, systemCas]) {
      await waitFor(
        () => agent.output().split("the collector's TLS certificate is not trusted").length - 1,
        (n) => n >= 2,
        20_000,
        'two refused attempts',
      );
    }
    expect(requests).toBe(0);
    for (const agent of [pinnedElsewhere, systemCas]) expect(agent.output()).not.toContain(token);
    expect(c.store.lastSeq('kvm-tls')).toBeNull();
    expect(c.tokens.list()[0].lastHelloAt).toBeNull();
  }, 40_000);

  it('an agent whose scheme does not match the port says which to use', async () => {
    const c = await serveTls();
    const token = c.tokens.create('kvm-tls').token;
    const plain = await startCollector({
      db: path.join(dir, 'plain.db'),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
    });
    try {
      const hostDir = writeHost(dir, 'kvm-tls', guests(1));
      const wsToTls = startCli(
        AGENT_CLI,
        agentArgs(c.agentUrl.replace('wss:', 'ws:'), hostDir, ['--state-dir', path.join(dir, 's1')]),
        { HVMAP_TOKEN: token },
      );
      const wssToPlain = startCli(
        AGENT_CLI,
        agentArgs(plain.agentUrl.replace('ws:', 'wss:'), hostDir, ['--state-dir', path.join(dir, 's2')]),
        { HVMAP_TOKEN: token },
      );
      children.push(wsToTls, wssToPlain);
      await waitFor(wsToTls.output, (o) =>
        o.includes('if it serves TLS (hvmap serve --tls-cert), use wss:// and --ca'),
      );
      await waitFor(wssToPlain.output, (o) => o.includes('the collector does not speak TLS on this port'));
    } finally {
      await plain.close();
    }
  }, 40_000);

  it('refuses to listen beyond loopback without TLS unless told, and refuses a key that does not match', async () => {
    const cli = await runCli(COLLECTOR_CLI, ['serve', '--listen', '0.0.0.0:0', '--db', path.join(dir, 'x.db')]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('(INSECURE_LISTEN)');
    expect(cli.stderr).toContain('--tls-cert FILE --tls-key FILE');
    expect(cli.stderr).toContain('--insecure-plaintext');

    const base = { db: path.join(dir, 'y.db'), listen: '0.0.0.0:0', logger: pino({ level: 'silent' }) };
    await expect(startCollector(base)).rejects.toMatchObject({ code: 'INSECURE_LISTEN' });
    collector = await startCollector({ ...base, insecurePlaintext: true });
    expect(collector.url).toMatch(/^http:\/\//);
    await collector.close();
    collector = await startCollector({
      ...base,
      tls: { cert: read(path.join(tls, 'server.crt')), key: read(path.join(tls, 'server.key')) },
    });
    expect(collector.url).toMatch(/^https:\/\//);
    await collector.close();
    collector = undefined;
    await expect(
      startCollector({
        ...base,
        tls: { cert: read(path.join(tls, 'server.crt')), key: read(path.join(otherTls, 'server.key')) },
      }),
    ).rejects.toMatchObject({ code: 'TLS_INVALID' });
  });
});

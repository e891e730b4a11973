/**
 * Nothing a client sends ends the collector: arbitrary request targets, methods, headers, cookies and
 * upgrade requests each get an answer, in open and operator-token mode, and /healthz stays up; an
 * arbitrary JSON frame (prototype-named keys and types included) is refused with 4400 and changes
 * nothing stored. Property-based (fast-check), seeded and bounded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAgentFrame } from '@hvmap/shared/schema';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPeer } from '../../../test/helpers/agent-peer.js';
import { type RunningCollector, startCollector } from '../collector.js';
import { readReport } from '../store/report.js';

const SEED = 20261202;
let dir: string;
const collectors = {} as { open: RunningCollector; closed: RunningCollector };

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-guards-'));
  const start = (name: string, requireOperatorToken: boolean) =>
    startCollector({
      db: path.join(dir, `${name}.db`),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
      requireOperatorToken,
      maxConnectionsPerAddress: 0,
    });
  collectors.open = await start('open', false);
  collectors.closed = await start('closed', true);
});
afterAll(async () => {
  await collectors.open.close();
  await collectors.closed.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends raw bytes as one HTTP request and resolves with the status code answered (0: closed without one). */
function rawRequest(c: RunningCollector, text: string): Promise<number> {
  const { port } = new URL(c.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 5 s to ${JSON.stringify(text.slice(0, 200))}`));
    }, 5000);
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(answer);
      if (status) {
        clearTimeout(timer);
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(0);
    });
    socket.write(text, 'latin1');
  });
}

// Header-safe text: printable ASCII and latin-1 bytes, no CR or LF (those would end the header).
const headerText = fc.stringOf(
  fc.oneof(
    fc.char().filter((ch) => ch !== '\r' && ch !== '\n'),
    fc.constantFrom('%', '%zz', '%E0%A4', '\\', '/', '"', ';', '=', '\u00ff', '\u0000'),
  ),
  { maxLength: 60 },
);
const target = fc.oneof(
  fc.constantFrom(
    '//',
    '/\\',
    '//evil.example/x',
    '/\\evil.example',
    '/%',
    '/%zz',
    '*',
    'http://evil.example/',
    '/?token=%',
  ),
  fc.constantFrom('/', '/healthz', '/api/guests', '/api/guests/%/%', '/api/report', '/live', '/agent', '/metrics'),
  headerText.map((t) => t.replace(/ /g, '%20')),
  headerText.map((t) => `/${t.replace(/ /g, '%20')}`),
);
const request = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'G3T'),
  target,
  cookie: fc.option(headerText.map((v) => `hvmap_operator=${v}`)),
  authorization: fc.option(headerText.map((v) => `Bearer ${v}`)),
  upgrade: fc.boolean(),
  origin: fc.option(fc.constantFrom('http://evil.example', 'null', '%', '//')),
});

describe('every request and upgrade gets an answer and the collector goes on', () => {
  for (const mode of ['open', 'closed'] as const) {
    it(`in ${mode === 'open' ? 'open (loopback)' : 'operator-token'} mode`, async () => {
      const c = collectors[mode];
      // The requests that used to end the collector, first.
      for (const t of ['//', '/\\'])
        for (const upgrade of [false, true]) {
          const r = {
            method: 'GET',
            target: t,
            cookie: 'hvmap_operator=%',
            authorization: null,
            upgrade,
            origin: null,
          };
          expect(await rawRequest(c, render(r)), render(r)).toBeGreaterThanOrEqual(100);
        }
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const status = await rawRequest(c, render(r));
          // Node's parser answers 400 itself to what is not HTTP; every other answer is ours.
          expect(status).toBeGreaterThanOrEqual(100);
          expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
        }),
        { seed: SEED, numRuns: 150, interruptAfterTimeLimit: 15_000 },
      );
    });
  }
});

function render(r: {
  method: string;
  target: string;
  cookie: string | null;
  authorization: string | null;
  upgrade: boolean;
  origin: string | null;
}): string {
  const lines = [`${r.method} ${r.target} HTTP/1.1`, 'Host: 127.0.0.1'];
  if (r.cookie !== null) lines.push(`Cookie: ${r.cookie}`);
  if (r.authorization !== null) lines.push(`Authorization: ${r.authorization}`);
  if (r.origin !== null) lines.push(`Origin: ${r.origin}`);
  if (r.upgrade)
    lines.push(
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    );
  return `${lines.join('\r\n')}\r\n\r\n`;
}

const PROTO_KEYS = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'prototype'];
const frame = fc.oneof(
  fc.record({ type: fc.constantFrom(...PROTO_KEYS, 'hello', 'inventory', 'heartbeat', 'welcome', '') }),
  fc.dictionary(fc.constantFrom('type', 'seq', 'guests', 'host', ...PROTO_KEYS), fc.jsonValue({ maxDepth: 3 })),
  fc.record({
    type: fc.constant('inventory'),
    seq: fc.oneof(fc.integer(), fc.constant(Number.MAX_SAFE_INTEGER), fc.string()),
    guests: fc.array(
      fc.dictionary(fc.constantFrom('uuid', 'name', 'os', ...PROTO_KEYS), fc.jsonValue({ maxDepth: 2 })),
    ),
  }),
  fc.jsonValue({ maxDepth: 3 }),
);

describe('an agent frame', () => {
  it('that is not valid protocol is refused with 4400 and stores nothing, prototype names included', async () => {
    const c = collectors.open;
    const { token } = c.tokens.create('fuzz-01');
    const hello = { type: 'hello', protocol: 1, agentId: 'fuzz-agent', agentVersion: '0.1.0', hostname: 'fuzz-01' };
    const stored = () => JSON.stringify(readReport(c.db));
    const before = stored();
    await fc.assert(
      fc.asyncProperty(frame, async (value) => {
        const text = JSON.stringify(value) ?? 'null';
        fc.pre(!parseAgentFrame(text).ok);
        const peer = await connectPeer(c.agentUrl, token);
        peer.send(hello);
        await peer.next('welcome');
        peer.ws.send(text);
        const closed = await peer.closed;
        expect(closed.code, text).toBe(4400);
        expect(stored()).toBe(before);
      }),
      { seed: SEED, numRuns: 100, interruptAfterTimeLimit: 15_000 },
    );
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
  });
});

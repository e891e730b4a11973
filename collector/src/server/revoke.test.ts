import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectPeer } from '../../../test/helpers/agent-peer.js';
import { COLLECTOR_CLI, runCli } from '../../../test/helpers/processes.js';
import { type RunningCollector, startCollector } from '../collector.js';

let dir: string;
let collector: RunningCollector;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-revoke-'));
  collector = await startCollector({
    db: path.join(dir, 'hvmap.db'),
    listen: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
  });
});
afterEach(async () => {
  await collector.close();
  rmSync(dir, { recursive: true, force: true });
});

async function connected(name: string, token: string) {
  const peer = await connectPeer(collector.agentUrl, token);
  peer.send({ type: 'hello', protocol: 1, agentId: `${name}-id`, agentVersion: '0.1.0', hostname: name });
  await peer.next('welcome');
  return peer;
}

describe('hvmap tokens revoke', () => {
  it('closes the connection using the token within a second (4401, the agent told why) and says so', async () => {
    const { token } = collector.tokens.create('kvm-01');
    const other = await connected('kvm-02', collector.tokens.create('kvm-02').token);
    const peer = await connected('kvm-01', token);
    const started = Date.now();
    const cli = await runCli(COLLECTOR_CLI, ['tokens', 'revoke', 'kvm-01', '--db', path.join(dir, 'hvmap.db')]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.trim()).toBe('revoked kvm-01; closed 1 connection');
    const closed = await peer.closed;
    expect(closed.code).toBe(4401);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await peer.next('error')).toMatchObject({ code: 'TOKEN_REVOKED' });
    // The token is refused from now on; the other agent keeps its connection.
    await expect(connectPeer(collector.agentUrl, token)).rejects.toMatchObject({ status: 401 });
    expect(collector.sessions.isConnected('kvm-02')).toBe(true);
    other.ws.close();
  });

  it('says when the agent held no connection', async () => {
    collector.tokens.create('kvm-03');
    const cli = await runCli(COLLECTOR_CLI, ['tokens', 'revoke', 'kvm-03', '--db', path.join(dir, 'hvmap.db')]);
    expect(cli.stdout.trim()).toBe('revoked kvm-03; it held no connection');
  });
});

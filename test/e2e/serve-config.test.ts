import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectPeer } from '../helpers/agent-peer.js';
import { COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';
import { freePort } from '../helpers/sshd.js';

let dir: string;
const children: ReturnType<typeof startCli>[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hvmap-config-'));
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopProcess(c)));
  rmSync(dir, { recursive: true, force: true });
});

describe('hvmap serve --config', () => {
  it('takes its options from the file, and a flag on the command line wins over the file', async () => {
    const port = await freePort();
    const fromFlag = path.join(dir, 'from-flag.db');
    const token = (
      await runCli(COLLECTOR_CLI, ['tokens', 'create', 'kvm-cfg', '--db', fromFlag, '--create'])
    ).stdout.trim();
    const config = path.join(dir, 'hvmap.json');
    writeFileSync(
      config,
      JSON.stringify({ listen: `127.0.0.1:${port}`, db: path.join(dir, 'from-file.db'), interval: 7 }),
    );
    const serve = startCli(COLLECTOR_CLI, ['serve', '--config', config, '--db', fromFlag]);
    children.push(serve);
    const output = await waitFor(
      () => serve.output(),
      (o) => o.includes('hvmap collector on'),
      15_000,
      'the collector',
    );
    // From the file: the address and the interval agents are asked to scan at.
    const url = /hvmap collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    expect(url).toBe(`http://127.0.0.1:${port}`);
    const peer = await connectPeer(`ws://127.0.0.1:${port}/agent`, token);
    peer.send({ type: 'hello', protocol: 1, agentId: 'kvm-cfg-id', agentVersion: '0.1.0', hostname: 'kvm-cfg' });
    expect(await peer.next('welcome')).toMatchObject({ interval: 7 });
    peer.ws.close();
    // From the command line, over the file: the database (the token above is in it).
    expect(existsSync(fromFlag)).toBe(true);
    expect(existsSync(path.join(dir, 'from-file.db'))).toBe(false);
  });

  it('refuses an unknown key or a value of the wrong kind with exit code 2', async () => {
    const typo = path.join(dir, 'typo.json');
    writeFileSync(typo, JSON.stringify({ lisen: '127.0.0.1:0' }));
    const unknown = await runCli(COLLECTOR_CLI, ['serve', '--config', typo]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown option "lisen"');
    const wrong = path.join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ webhook: 'http://example.invalid/hook' }));
    const kind = await runCli(COLLECTOR_CLI, ['serve', '--config', wrong]);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain('"webhook" must be a list');
  });
});

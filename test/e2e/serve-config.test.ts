import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COLLECTOR_CLI, runCli, startCli, stopProcess, waitFor } from '../helpers/processes.js';

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
    const config = path.join(dir, 'hvmap.json');
    writeFileSync(
      config,
      JSON.stringify({ listen: '127.0.0.1:0', db: path.join(dir, 'from-file.db'), 'eol-warn-days': 30 }),
    );
    const serve = startCli(COLLECTOR_CLI, ['serve', '--config', config, '--db', path.join(dir, 'from-flag.db')]);
    children.push(serve);
    const output = await waitFor(
      () => serve.output(),
      (o) => o.includes('hvmap collector on'),
      15_000,
      'the collector',
    );
    const url = /hvmap collector on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(existsSync(path.join(dir, 'from-flag.db'))).toBe(true);
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

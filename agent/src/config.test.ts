import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_DEFAULTS, helpText, parseCommandLine, TOKEN_ENV, UsageError } from './config.js';

const drivers = ['libvirt'];
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseCommandLine(argv, env, drivers);
const run = ['run', '--collector', 'wss://collector.example:8600/agent'];

describe('parseCommandLine', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hvmap-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fills every default of run and leaves the interval to the collector', async () => {
    expect(await parse([...run, '--token', 't0k'])).toEqual({
      command: 'run',
      collectorUrl: 'wss://collector.example:8600/agent',
      fallbackCollectorUrls: [],
      token: 't0k',
      driver: AGENT_DEFAULTS.driver,
      intervalSec: undefined,
      libvirtUri: undefined,
      stateDir: AGENT_DEFAULTS.stateDir,
      root: undefined,
      logLevel: AGENT_DEFAULTS.logLevel,
      watch: true,
    });
  });

  it('keeps further --collector values, in order, as collectors to fail over to', async () => {
    expect(
      await parse([
        'run',
        '--token',
        't',
        '--collector',
        'ws://a.example:8600',
        '--collector',
        'ws://b.example:8600/agent',
        '--collector',
        'ws://c.example:8600/agent',
        '--failback',
        '120',
      ]),
    ).toMatchObject({
      collectorUrl: 'ws://a.example:8600/agent',
      fallbackCollectorUrls: ['ws://b.example:8600/agent', 'ws://c.example:8600/agent'],
      failbackSec: 120,
    });
  });

  it('reads every option of run', async () => {
    const config = await parse([
      ...run,
      '--token=t0k',
      '--driver',
      'libvirt',
      '--interval',
      '300',
      '--libvirt-uri',
      'qemu:///system',
      '--state-dir',
      '/srv/hvmap',
      '--root',
      '/fixtures/rhel9',
      '--log-level',
      'debug',
      '--no-watch',
    ]);
    expect(config).toMatchObject({
      watch: false,
      driver: 'libvirt',
      intervalSec: 300,
      libvirtUri: 'qemu:///system',
      stateDir: '/srv/hvmap',
      root: '/fixtures/rhel9',
      logLevel: 'debug',
    });
  });

  it(`takes the token from ${TOKEN_ENV} or from --token-file, trimmed, so it stays out of ps`, async () => {
    expect(await parse(run, { [TOKEN_ENV]: 'from-env' })).toMatchObject({ token: 'from-env' });
    const file = path.join(dir, 'token');
    await writeFile(file, 'from-file\n');
    expect(await parse([...run, '--token-file', file], { [TOKEN_ENV]: 'from-env' })).toMatchObject({
      token: 'from-file',
    });
  });

  it('gives a bare host:port collector URL the /agent path', async () => {
    expect(await parse(['run', '--collector', 'ws://10.0.0.5:8600', '--token', 't'])).toMatchObject({
      collectorUrl: 'ws://10.0.0.5:8600/agent',
    });
  });

  it("reads --ca (the collector's CA, PEM), --ping-interval and --max-backoff", async () => {
    const ca = path.join(dir, 'ca.crt');
    await writeFile(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(
      await parse([...run, '--token', 't', '--ca', ca, '--ping-interval', '5', '--max-backoff', '10']),
    ).toMatchObject({ ca: expect.stringContaining('BEGIN CERTIFICATE'), pingIntervalSec: 5, maxBackoffSec: 10 });
  });

  it.each([
    [['--collector', 'ws://c.example:8600/agent', '--ca', 'CA'], 'every collector URL must start with wss://'],
    [
      ['--collector', 'wss://a.example:8600/agent', '--collector', 'ws://b.example:8600/agent', '--ca', 'CA'],
      'every collector URL must start with wss://',
    ],
    [['--collector', 'ws://a.example:8600', '--collector', 'ws://a.example:8600/agent'], 'the same collector twice'],
    [['--collector', 'wss://c.example:8600/agent', '--ca', '/nonexistent/ca.crt'], 'cannot be read: ENOENT'],
    [['--collector', 'wss://c.example:8600/agent', '--ca', 'NOT_PEM'], 'holds no PEM certificate'],
    [['--collector', 'wss://c.example:8600/agent', '--ping-interval', '0'], '--ping-interval 0 must be'],
    [['--collector', 'wss://c.example:8600/agent', '--max-backoff', 'x'], '--max-backoff x must be'],
  ])('refuses run %j: %s', async (args, message) => {
    const notPem = path.join(dir, 'key.pem');
    await writeFile(notPem, '-----BEGIN PRIVATE KEY-----\n');
    const argv = ['run', '--token', 't', ...args.map((a) => (a === 'CA' || a === 'NOT_PEM' ? notPem : a))];
    const error = await parse(argv).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
  });

  it('reads the options of scan', async () => {
    expect(await parse(['scan', '--json', '--driver', 'libvirt', '--root', '/fx'])).toEqual({
      command: 'scan',
      driver: 'libvirt',
      json: true,
      libvirtUri: undefined,
      root: '/fx',
    });
  });

  it('reads --replay DIR of scan', async () => {
    expect(await parse(['scan', '--driver', 'libvirt', '--replay', '/captures/rhel9'])).toMatchObject({
      command: 'scan',
      driver: 'libvirt',
      replay: '/captures/rhel9',
    });
  });

  it.each([
    [['run', '--token', 't'], '--collector URL is required'],
    [run, 'a token is required'],
    [[...run, '--token', 't', '--token-file', '/x'], 'not both'],
    [[...run, '--token-file', '/nonexistent/token'], '--token-file /nonexistent/token cannot be read'],
    [['run', '--collector', 'https://c.example/agent', '--token', 't'], 'must start with ws:// or wss://'],
    [[...run, '--token', 't', '--interval', '0'], '--interval 0 must be a whole number'],
    [[...run, '--token', 't', '--interval', '1.5'], '--interval 1.5 must be a whole number'],
    [['scan', '--driver', 'vmware'], '--driver vmware is not a driver; expected auto or one of: libvirt'],
    [[...run, '--token', 't', '--log-level', 'loud'], '--log-level loud is not a level'],
    [['scan', '--collector', 'ws://x'], "Unknown option '--collector'"],
    [['scan', 'extra'], 'positional'],
    [['scan', '--replay', '/captures', '--root', '/fx'], 'give --replay or --root, not both'],
    [['run', '--replay', '/captures'], "Unknown option '--replay'"],
    [['deploy'], 'unknown command "deploy"'],
  ])('refuses %j as bad usage: %s', async (argv, message) => {
    const error = await parse(argv).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(message);
  });

  it('answers --help, for the program and for each command, and --version', async () => {
    expect(await parse([])).toMatchObject({ command: 'help' });
    expect(await parse(['--help'])).toMatchObject({ command: 'help' });
    expect(await parse(['scan', '--help'])).toEqual({ command: 'help', text: helpText('scan') });
    expect(await parse(['--version'])).toEqual({ command: 'version' });
  });
});

describe('helpText', () => {
  it('lists every option of both commands with its default, taken from AGENT_DEFAULTS', () => {
    const text = helpText();
    for (const flag of [
      '--collector URL',
      '--token TOKEN',
      '--token-file FILE',
      '--driver auto|NAME',
      '--interval S',
      '--libvirt-uri URI',
      '--state-dir DIR',
      '--root DIR',
      '--json',
      '--replay DIR',
      '--log-level LEVEL',
      '--help',
    ]) {
      expect(text).toContain(flag);
    }
    for (const line of text.split('\n').filter((l) => /^\s+--(?!help)/.test(l))) {
      expect(line).toMatch(/\(default: .+\)$/);
    }
    expect(text).toContain(`(default: ${AGENT_DEFAULTS.stateDir})`);
    expect(text).toContain(`else ${AGENT_DEFAULTS.intervalSec})`);
    expect(text).toContain(`(default: ${AGENT_DEFAULTS.driver})`);
    expect(text).toContain(`(default: ${AGENT_DEFAULTS.logLevel})`);
  });
});

/**
 * A real PostgreSQL server for the tests and the benchmark (Debian's `postgresql` package): `initdb`
 * and `pg_ctl` in a temp directory, as the `postgres` user when run as root (PostgreSQL refuses to
 * run as root), listening on 127.0.0.1 on a free port. Each test takes a fresh database of its own
 * (createDatabase). Shared from here because the benchmark's tsconfig cannot reach test/helpers.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './common.js';

export interface TestPostgres {
  port: number;
  /** A URL of the server's `postgres` database, to create and drop others from. */
  adminUrl: string;
  /** A new empty database; its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown: open connections are cut); `start()` brings it back on the same port and data. */
  stop(): void;
  start(): void;
  /** Stops it and removes its files. */
  destroy(): void;
  log(): string;
}

/** The newest PostgreSQL server installed by Debian's packages. */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'pg_ctl')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(`no PostgreSQL server under ${root}: install the postgresql package to run these tests`);
  return path.join(root, versions[0], 'bin');
}

let databases = 0;

/**
 * `durable`: fsync on, as a production server runs (the benchmark); off by default, since a test
 * server's data need not survive a power cut and syncs are most of its time.
 */
export async function startPostgres(options: { durable?: boolean } = {}): Promise<TestPostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-pg-'));
  const asRoot = process.getuid?.() === 0;
  let uid = process.getuid?.() ?? 0;
  let gid = process.getgid?.() ?? 0;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const run = (program: string, args: string[]) =>
    execFileSync(
      asRoot ? 'runuser' : path.join(bin, program),
      asRoot ? ['-u', 'postgres', '--', path.join(bin, program), ...args] : args,
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: dir,
      },
    );
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  const socketDir = path.join(dir, 'socket');
  mkdirSync(socketDir);
  if (asRoot) chownSync(socketDir, uid, gid);
  const port = await freePort();
  const durability = options.durable ? '' : ' -c fsync=off -c full_page_writes=off';
  const serverOptions = `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c max_connections=200${durability}`;
  const start = () => run('pg_ctl', ['-D', data, '-l', logFile, '-o', serverOptions, '-w', '-t', '30', 'start']);
  const stop = () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
  start();
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    port,
    adminUrl,
    async createDatabase() {
      const name = `hvmap_test_${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    destroy() {
      try {
        stop();
      } catch {
        // Already stopped.
      }
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
}

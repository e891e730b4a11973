/**
 * `hvmap tls init`: a private CA and a server certificate for a small estate, made with the
 * `openssl` CLI (node:crypto makes keys but cannot issue X.509 certificates).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';

/** The files `tls init` leaves in its directory. */
const TLS_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
} as const;

export const TLS_DEFAULTS = {
  /** The CA outlives many server certificates: agents pin it, so replacing it means touching every host. */
  caDays: 3650,
  serverDays: 825,
} as const;

export class TlsInitError extends Error {
  constructor(
    readonly code: 'TLS_HOSTS_INVALID' | 'OPENSSL_MISSING' | 'OPENSSL_FAILED' | 'TLS_CA_INCOMPLETE',
    message: string,
  ) {
    super(message);
    this.name = 'TlsInitError';
  }
}

export interface TlsInitOptions {
  dir: string;
  /** DNS names and IP addresses agents and browsers use to reach the collector. */
  hosts: string[];
  serverDays?: number;
}

const DNS_NAME =
  /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Splits and checks `--hosts`: each is a DNS name or an IP address. Anything else is refused, which
 * also keeps commas and line breaks out of the extension file handed to openssl.
 */
export function parseHosts(text: string): string[] {
  const hosts = text
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  if (!hosts.length) throw new TlsInitError('TLS_HOSTS_INVALID', '--hosts needs at least one name or IP address');
  for (const h of hosts) {
    if (!isIP(h) && !DNS_NAME.test(h))
      throw new TlsInitError('TLS_HOSTS_INVALID', `--hosts: "${h}" is neither a DNS name nor an IP address`);
  }
  return [...new Set(hosts)];
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(
          new TlsInitError('OPENSSL_MISSING', 'openssl is not installed; install it (apt-get install openssl)'),
        );
      reject(new TlsInitError('OPENSSL_FAILED', `openssl ${args[0]} failed: ${stderr.trim() || err.message}`));
    });
  });
}

/**
 * Makes (or keeps) the CA in `dir` and issues a server certificate for `hosts` from it; returns what
 * to copy where, for the operator. Files are written in a private scratch folder and renamed into
 * place, keys with mode 0600.
 */
export async function tlsInit(options: TlsInitOptions): Promise<string> {
  const dir = path.resolve(options.dir);
  const file = (name: string) => path.join(dir, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const hasCert = existsSync(file(TLS_FILES.caCert));
  const hasKey = existsSync(file(TLS_FILES.caKey));
  if (hasCert !== hasKey)
    throw new TlsInitError(
      'TLS_CA_INCOMPLETE',
      `${dir} holds ${hasCert ? TLS_FILES.caCert : TLS_FILES.caKey} without ${hasCert ? TLS_FILES.caKey : TLS_FILES.caCert}; restore the pair or move it away to start a new CA`,
    );
  const caReused = hasCert;
  const scratch = await mkdtemp(path.join(dir, '.tls-init-'));
  try {
    const caKey = caReused ? file(TLS_FILES.caKey) : path.join(scratch, TLS_FILES.caKey);
    const caCert = caReused ? file(TLS_FILES.caCert) : path.join(scratch, TLS_FILES.caCert);
    // P-256 keys: every TLS stack an agent may run on (Node on Linux and Windows) accepts them.
    const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    if (!caReused) {
      await openssl(
        [
          'req',
          '-x509',
          ...ecKey,
          '-keyout',
          caKey,
          '-out',
          caCert,
          '-days',
          String(TLS_DEFAULTS.caDays),
          '-subj',
          `/CN=hvmap private CA ${randomBytes(4).toString('hex')}`,
          '-addext',
          'basicConstraints=critical,CA:TRUE,pathlen:0',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        scratch,
      );
    }
    const serverKey = path.join(scratch, TLS_FILES.serverKey);
    const csr = path.join(scratch, 'server.csr');
    await openssl(
      ['req', '-new', ...ecKey, '-keyout', serverKey, '-out', csr, '-subj', `/CN=${options.hosts[0]}`],
      scratch,
    );
    const ext = path.join(scratch, 'server.ext');
    const san = options.hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    await writeFile(
      ext,
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    );
    const serverCert = path.join(scratch, TLS_FILES.serverCert);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        // A random serial (no .srl file to keep; reissues practically never collide), its first hex
        // digit below 8 so it stays positive as RFC 5280 requires.
        '-set_serial',
        `0x${randomBytes(16)
          .toString('hex')
          .replace(/^[89a-f]/, '7')}`,
        '-days',
        String(options.serverDays ?? TLS_DEFAULTS.serverDays),
        '-sha256',
        '-extfile',
        ext,
        '-out',
        serverCert,
      ],
      scratch,
    );
    const keys = caReused ? [serverKey] : [serverKey, caKey];
    for (const k of keys) await chmod(k, 0o600);
    const made = caReused ? [TLS_FILES.serverKey, TLS_FILES.serverCert] : Object.values(TLS_FILES);
    for (const name of made) await rename(path.join(scratch, name), file(name));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const files = {
    caCert: file(TLS_FILES.caCert),
    caKey: file(TLS_FILES.caKey),
    serverCert: file(TLS_FILES.serverCert),
    serverKey: file(TLS_FILES.serverKey),
  };
  const first = options.hosts[0];
  return [
    `${caReused ? 'kept the CA' : 'made a new CA'} and issued a server certificate for ${options.hosts.join(', ')} in ${dir}`,
    `collector: hvmap serve --listen 0.0.0.0:8600 --tls-cert ${files.serverCert} --tls-key ${files.serverKey}`,
    `each agent host: copy ${files.caCert} (public) to /etc/hvmap-agent/ca.crt, then hvmap-agent run --collector wss://${isIP(first) === 6 ? `[${first}]` : first}:8600/agent --ca /etc/hvmap-agent/ca.crt …`,
    `hvmap report/alerts --collector https://…: NODE_EXTRA_CA_CERTS=${files.caCert}; browsers: import ${files.caCert}`,
    `keep ${files.caKey} off the network (offline is best): it can issue certificates every agent trusts; run tls init again with it in ${dir} to reissue the server certificate`,
  ].join('\n');
}

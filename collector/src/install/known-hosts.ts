/**
 * OpenSSH known_hosts, read and appended the way `ssh` does (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
 * plain and hashed (`|1|salt|hmac`) host fields, `[host]:port` for ports other than 22, wildcards and
 * negations, `@revoked` keys. ssh2 accepts any host key unless told otherwise, so every connection
 * checks the key it is shown against this file.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface KnownHostEntry {
  marker: '@revoked' | '@cert-authority' | null;
  /** The host field as written: comma-separated patterns, or one hashed name. */
  hosts: string;
  keyType: string;
  /** The public key blob (the base64 field, decoded). */
  key: Buffer;
  line: number;
}

/** The result of checking a host's key against known_hosts. */
export type HostKeyCheck =
  | { status: 'known' }
  | { status: 'unknown' }
  | { status: 'changed'; knownTypes: string[]; lines: number[] }
  | { status: 'revoked'; line: number };

/** Parses known_hosts text; lines that are not entries (comments, garbage) are skipped, as ssh does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i].trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority')
      marker = fields.shift() as KnownHostEntry['marker'];
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64) continue;
    entries.push({ marker, hosts, keyType, key: Buffer.from(base64, 'base64'), line: i + 1 });
  }
  return entries;
}

/** The name known_hosts records a host under: `host`, or `[host]:port` when the port is not 22. */
export function knownHostName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** Whether a known_hosts host field names `name` (from knownHostName). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!wildcardMatch(pattern, name)) continue;
    // A matching negation rejects the line whatever else matches (ssh's match_hostname).
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function wildcardMatch(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === name;
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** `SHA256:…`, as `ssh-keygen -lf` and ssh's prompts print it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Checks the key a host presented. Certificate authorities are not supported and count as absent. */
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): HostKeyCheck {
  const name = knownHostName(host, port);
  const mine = entries.filter((e) => hostFieldMatches(e.hosts, name));
  const revoked = mine.find((e) => e.marker === '@revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', line: revoked.line };
  const plain = mine.filter((e) => e.marker === null);
  if (plain.some((e) => e.key.equals(key))) return { status: 'known' };
  if (plain.length === 0) return { status: 'unknown' };
  return { status: 'changed', knownTypes: [...new Set(plain.map((e) => e.keyType))], lines: plain.map((e) => e.line) };
}

/** The key types known_hosts holds for a host, to offer them first in the key exchange as ssh does. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = knownHostName(host, port);
  return [
    ...new Set(entries.filter((e) => e.marker === null && hostFieldMatches(e.hosts, name)).map((e) => e.keyType)),
  ];
}

/** One known_hosts line for a host and key (unhashed, so an operator can read and edit it). */
export function knownHostLine(host: string, port: number, key: Buffer): string {
  return `${knownHostName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** A known_hosts file: read afresh at each connection (other hosts may have been added), appended to. */
export class KnownHostsFile {
  constructor(readonly file: string) {}

  entries(): KnownHostEntry[] {
    return existsSync(this.file) ? parseKnownHosts(readFileSync(this.file, 'utf8')) : [];
  }

  add(host: string, port: number, key: Buffer): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const text = existsSync(this.file) ? readFileSync(this.file, 'utf8') : '';
    const sep = text === '' || text.endsWith('\n') ? '' : '\n';
    appendFileSync(this.file, `${sep}${knownHostLine(host, port, key)}\n`, { mode: 0o600 });
  }
}

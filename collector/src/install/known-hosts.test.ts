import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkHostKey,
  fingerprint,
  hostFieldMatches,
  KnownHostsFile,
  keyTypeOf,
  knownHostName,
  knownKeyTypes,
  parseKnownHosts,
} from './known-hosts.js';

// Two keys made by ssh-keygen (OpenSSH 9.2); fingerprints as `ssh-keygen -lf` printed them.
const ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIBJ+S4zlK0QWgDoNfkxsVWd/PSFbfc/j0XmZNCgHs27m';
const ED25519_FP = 'SHA256:chWzhfXCvCNORrVQp6wSxZ0qtp98zH5oF7bVvDITX6c';
const ECDSA =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKaQi/aLUS/ZZUGI2HktUQchG9QdWBRXO68REmb8iitnRU61LxuyDpS17gPY6MpyBp8mtKKFYzw8LX4ZwtmaIss=';
const ECDSA_FP = 'SHA256:CJ/qZ7a+W5MrK2IOXi0Ispx45xco2oBGUFxbex7TuPA';
const key = (b64: string) => Buffer.from(b64, 'base64');

// The same two entries before and after `ssh-keygen -H` (kvm01.example.com, [hv02.example.com]:2222).
const PLAIN = `kvm01.example.com ssh-ed25519 ${ED25519}\n[hv02.example.com]:2222 ecdsa-sha2-nistp256 ${ECDSA}\n`;
const HASHED = [
  `|1|t22k3MQIKYXxMsL0dYFnv2VcsQk=|xMGFuIUyw3hLQbKesSdBNAfPnNQ= ssh-ed25519 ${ED25519}`,
  `|1|+kqLspofCCiJKLbG17h1qHQpclo=|Ttju5KD9N1WEn+VUq9VsoRZoDPo= ecdsa-sha2-nistp256 ${ECDSA}`,
  '',
].join('\n');

describe('known_hosts', () => {
  it('prints fingerprints and key types as ssh-keygen does', () => {
    expect(fingerprint(key(ED25519))).toBe(ED25519_FP);
    expect(fingerprint(key(ECDSA))).toBe(ECDSA_FP);
    expect(keyTypeOf(key(ECDSA))).toBe('ecdsa-sha2-nistp256');
  });

  it('names a host as ssh records it: bare on port 22, [host]:port otherwise, lower case', () => {
    expect(knownHostName('KVM01.example.com', 22)).toBe('kvm01.example.com');
    expect(knownHostName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
  });

  for (const [form, text] of [
    ['plain', PLAIN],
    ['hashed', HASHED],
  ] as const) {
    it(`finds ${form} entries by name and port`, () => {
      const entries = parseKnownHosts(text);
      expect(checkHostKey(entries, 'kvm01.example.com', 22, key(ED25519))).toEqual({ status: 'known' });
      expect(checkHostKey(entries, 'hv02.example.com', 2222, key(ECDSA))).toEqual({ status: 'known' });
      expect(checkHostKey(entries, 'hv02.example.com', 22, key(ECDSA))).toEqual({ status: 'unknown' });
      expect(checkHostKey(entries, 'kvm01.example.com', 22, key(ECDSA))).toEqual({
        status: 'changed',
        knownTypes: ['ssh-ed25519'],
        lines: [1],
      });
      expect(knownKeyTypes(entries, 'hv02.example.com', 2222)).toEqual(['ecdsa-sha2-nistp256']);
    });
  }

  it('follows comma lists, wildcards and negations', () => {
    expect(hostFieldMatches('kvm01,kvm02.example.com', 'kvm02.example.com')).toBe(true);
    expect(hostFieldMatches('*.example.com', 'kvm01.example.com')).toBe(true);
    expect(hostFieldMatches('kvm0?.example.com', 'kvm10.example.com')).toBe(false);
    expect(hostFieldMatches('*.example.com,!bastion.example.com', 'bastion.example.com')).toBe(false);
    expect(hostFieldMatches('[10.0.0.*]:2222', '[10.0.0.7]:2222')).toBe(true);
  });

  it('refuses a key marked @revoked and ignores @cert-authority lines', () => {
    const entries = parseKnownHosts(
      `@revoked * ssh-ed25519 ${ED25519}\n@cert-authority *.example.com ecdsa-sha2-nistp256 ${ECDSA}\n# comment\n\ngarbage\n`,
    );
    expect(entries).toHaveLength(2);
    expect(checkHostKey(entries, 'kvm01.example.com', 22, key(ED25519))).toEqual({ status: 'revoked', line: 1 });
    expect(checkHostKey(entries, 'kvm01.example.com', 22, key(ECDSA))).toEqual({ status: 'unknown' });
  });

  it('appends a readable line on a new line, creating the file and its directory', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hvmap-kh-'));
    try {
      const file = new KnownHostsFile(path.join(dir, '.ssh', 'known_hosts'));
      file.add('hv02.example.com', 2222, key(ECDSA));
      writeFileSync(file.file, `${readFileSync(file.file, 'utf8')}# no newline at the end`);
      file.add('kvm01.example.com', 22, key(ED25519));
      expect(readFileSync(file.file, 'utf8')).toBe(
        `[hv02.example.com]:2222 ecdsa-sha2-nistp256 ${ECDSA}\n# no newline at the end\nkvm01.example.com ssh-ed25519 ${ED25519}\n`,
      );
      expect(checkHostKey(file.entries(), 'kvm01.example.com', 22, key(ED25519))).toEqual({ status: 'known' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

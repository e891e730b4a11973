/**
 * Every folder in testcases/ is one host: transcript.json answers each step by name (outputs in the
 * format that host prints), expected.json says how the install or uninstall ends, and commands.txt
 * is every command the plan ran, unquoted for review (UPDATE_FIXTURES=1 rewrites it; a missing one fails). Linux scripts are also
 * checked by `sh -n`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AgentBundle } from './bundle.js';
import { type CollectorLink, installOnHost, uninstallFromHost } from './install.js';
import type { Step } from './plan.js';
import { type ReplayedStep, replayRemote } from './replay.js';
import { parseTarget } from './target.js';
import { decodePowershell } from './windows.js';

interface Transcript {
  about: string;
  origin: string;
  target: string;
  purpose: 'install' | 'uninstall';
  hello?: 'activate' | 'never';
  prefix?: string;
  libvirtUri?: string;
  /** The collector's CA certificate (--ca), as PEM text. */
  caPem?: string;
  /** A token made beforehand (--token). */
  token?: string;
  tokens?: Record<string, 'active' | 'revoked'>;
  steps: Record<string, ReplayedStep>;
}

interface Expected {
  result?: string;
  error?: string;
  detailIncludes: string[];
  detailExcludes?: string[];
  tokens: Record<string, string>;
  stepsExclude?: string[];
}

const CASES = fileURLToPath(new URL('./testcases/', import.meta.url));
const BUNDLE: AgentBundle = {
  version: '1.2.3',
  script: Buffer.from('// the agent bundle\n'),
  packageJson: Buffer.from('{ "name": "hvmap-agent", "version": "1.2.3", "type": "module" }\n'),
};

/** A collector that hands out predictable tokens and lets a test decide when agents say hello. */
function fakeCollector(initial: Record<string, 'active' | 'revoked'>) {
  const states = new Map<string, 'active' | 'revoked'>(Object.entries(initial));
  const hellos = new Map<string, string>();
  const installs = new Map<string, string>();
  const link: CollectorLink = {
    tokenState: (name) => states.get(name) ?? 'missing',
    createToken: (name) => {
      states.set(name, 'active');
      return `hvm_replayed_${name}`;
    },
    revokeToken: (name) => {
      states.set(name, 'revoked');
    },
    tokenName: (token) =>
      [...states].find(([name, s]) => s === 'active' && `hvm_replayed_${name}` === token)?.[0] ?? null,
    lastHelloAt: (name) => hellos.get(name) ?? null,
    installedToken: (address) => installs.get(address) ?? null,
    recordInstall: (address, name) => installs.set(address, name),
    forgetInstall: (address) => installs.delete(address),
  };
  return {
    link,
    helloFromAll: () => {
      for (const [name, s] of states) if (s === 'active') hellos.set(name, new Date().toISOString());
    },
    states: () => Object.fromEntries(states),
  };
}

/** The commands as a reviewer reads them: PowerShell decoded, uploads with their text. */
function render(steps: Step[]): string {
  const text = (content: Buffer) =>
    content.equals(BUNDLE.script)
      ? '(the agent bundle)'
      : content.toString('utf8').replace(/"installedAt": "[^"]+"/, '"installedAt": "…"');
  return steps
    .map((s) => {
      if (s.kind === 'upload') return `## ${s.name}\nSFTP ${s.path}\n${text(s.content)}`;
      const sh = /^((?:sudo -n )?sh -c) '([\s\S]*)'$/.exec(s.command);
      const body =
        decodePowershell(s.command) ?? (sh ? `${sh[1]} <<script\n${sh[2].replace(/'\\''/g, "'")}\nscript` : s.command);
      return `## ${s.name}\n${body}${s.stdin ? `\n-- stdin --\n${text(s.stdin)}` : ''}`;
    })
    .join('\n\n')
    .concat('\n');
}

describe('install plans on replayed hosts', () => {
  for (const name of readdirSync(CASES).sort()) {
    const dir = path.join(CASES, name);
    const t = JSON.parse(readFileSync(path.join(dir, 'transcript.json'), 'utf8')) as Transcript;
    const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;

    it(`${name}: ${t.about}`, async () => {
      const collector = fakeCollector(t.tokens ?? {});
      const remote = replayRemote(t.steps, dir, (step) => {
        if (t.hello === 'activate' && step.name === 'activate') collector.helloFromAll();
      });
      const target = parseTarget(t.target, 'root');
      let outcome: { result?: string; error?: string; detail: string };
      try {
        const r =
          t.purpose === 'uninstall'
            ? await uninstallFromHost(remote, target, { link: collector.link, prefix: t.prefix })
            : await installOnHost(remote, target, {
                collectorUrl: 'wss://collector.example:8600/agent',
                bundle: BUNDLE,
                link: collector.link,
                prefix: t.prefix,
                libvirtUri: t.libvirtUri,
                caPem: t.caPem,
                token: t.token,
                helloTimeoutMs: t.hello === 'never' ? 50 : 5_000,
                pollMs: 5,
              });
        outcome = { result: r.result, detail: r.detail };
      } catch (err) {
        outcome = { error: (err as { code?: string }).code, detail: (err as Error).message };
      }

      expect({ result: outcome.result, error: outcome.error }, outcome.detail).toEqual({
        result: expected.result,
        error: expected.error,
      });
      for (const s of expected.detailIncludes) expect(outcome.detail).toContain(s);
      for (const s of expected.detailExcludes ?? []) expect(outcome.detail).not.toContain(s);
      expect(collector.states()).toEqual(expected.tokens);
      const names = remote.steps.map((s) => s.name);
      for (const s of expected.stepsExclude ?? []) expect(names).not.toContain(s);

      for (const step of remote.steps) {
        if (step.kind !== 'exec') continue;
        if (decodePowershell(step.command) === null) {
          // The outer sh unquotes the script as the host's shell would; the inner one only parses it.
          execFileSync('sh', ['-c', step.command.replace(/^(sudo -n )?sh -c /, 'sh -n -c ')]);
        } else {
          // cmd.exe, when it is the SSH server's shell, takes at most 8191 characters.
          expect(step.command.length).toBeLessThan(8191);
        }
      }

      const golden = path.join(dir, 'commands.txt');
      const actual = render(remote.steps);
      if (process.env.UPDATE_FIXTURES === '1') writeFileSync(golden, actual);
      // A missing golden fails: written here, it would pass whatever the plan ran.
      expect(existsSync(golden), `${golden} is missing: run with UPDATE_FIXTURES=1 and review it`).toBe(true);
      expect(actual).toBe(readFileSync(golden, 'utf8'));
    });
  }
});

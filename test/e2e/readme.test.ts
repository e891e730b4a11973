/**
 * README and the programs cannot drift apart. Every `hvmap` and `hvmap-agent` command the READMEs
 * show (fenced or inline) is checked against the commands' real definitions: subcommands, options,
 * arguments. Each fenced command of the top README that needs nothing from outside this machine is
 * also run, in README's order, in a folder whose ./data/hvmap.db a real collector fills with the test
 * fleet; what is not run says why.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPTIONS as AGENT_OPTIONS } from '../../agent/src/config.js';
import { type RunningCollector, startCollector } from '../../collector/src/collector.js';
import { buildProgram } from '../../collector/src/commands.js';
import { ProtocolAgent, testFleet } from '../helpers/fleet.js';
import { AGENT_CLI, COLLECTOR_CLI, runCli } from '../helpers/processes.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface ShownCommand {
  file: string;
  line: number;
  text: string;
  fenced: boolean;
  env: Record<string, string>;
  program: 'hvmap' | 'hvmap-agent';
  args: string[];
}

/**
 * The simple commands of a shell line, each as its words: quotes and backslash escapes as a POSIX
 * shell reads them, `&&`, `||`, `;` and `|` outside quotes between commands, `#` starting a comment.
 */
export function shellCommands(text: string): string[][] {
  const commands: string[][] = [[]];
  let word: string | null = null;
  const endWord = () => {
    if (word !== null) commands[commands.length - 1].push(word);
    word = null;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unbalanced ${c} in: ${text}`);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      endWord();
    } else if (c === '#' && word === null) {
      break;
    } else if (c === '&' || c === '|' || c === ';') {
      endWord();
      if (text[i + 1] === c) i++;
      commands.push([]);
    } else word = (word ?? '') + c;
  }
  endWord();
  return commands.filter((words) => words.length > 0);
}

/** The hvmap commands of one shell line: `A=1 npx hvmap …`, also after `&&`, `;` or `|`. */
function commandsOfLine(text: string): Omit<ShownCommand, 'file' | 'line' | 'fenced'>[] {
  const found: Omit<ShownCommand, 'file' | 'line' | 'fenced'>[] = [];
  for (const words of shellCommands(text)) {
    const env: Record<string, string> = {};
    while (words.length && /^[A-Z_]+=/.test(words[0])) {
      const [k, ...v] = (words.shift() as string).split('=');
      env[k] = v.join('=');
    }
    if (words[0] === 'npx') words.shift();
    if (words[0] === 'hvmap' || words[0] === 'hvmap-agent')
      found.push({ text: words.join(' '), env, program: words[0], args: words.slice(1) });
  }
  return found;
}

/** Every hvmap command a Markdown file shows: fenced shell lines (continuations joined) and inline spans. */
export function shownCommands(file: string, markdown: string): ShownCommand[] {
  const out: ShownCommand[] = [];
  const lines = markdown.split('\n');
  let fence: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const opening = /^\s*```(\w*)/.exec(line);
    if (opening) {
      fence = fence === null ? opening[1] : null;
      continue;
    }
    if (fence === 'sh') {
      let text = line;
      const start = i;
      while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i].trim()}`;
      for (const c of commandsOfLine(text)) out.push({ ...c, file, line: start + 1, fenced: true });
    } else if (fence === null) {
      for (const span of line.matchAll(/`((?:npx )?hvmap[^`]*)`/g))
        for (const c of commandsOfLine(span[1])) out.push({ ...c, file, line: i + 1, fenced: false });
    }
  }
  return out;
}

/** What is wrong with `hvmap ARGS` under the real command definitions (no action runs). */
function collectorProblems(root: Command, args: string[], complete: boolean): string[] {
  let cmd = root;
  const positionals: string[] = [];
  const problems: string[] = [];
  const findOption = (flag: string) => {
    for (let c: Command | null = cmd; c; c = c.parent) {
      const o = c.options.find((x) => x.long === flag || x.short === flag);
      if (o) return o;
    }
    return undefined;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--help' || a === '-h') return problems;
    if (a.startsWith('-')) {
      const [flag, inline] = a.split(/=(.*)/s, 2);
      const option = findOption(flag);
      if (!option) problems.push(`"${cmd.name()}" has no option ${flag}`);
      else if (option.required && inline === undefined) {
        if (i + 1 >= args.length) {
          if (complete) problems.push(`${flag} needs a value`);
        } else i++;
      }
      continue;
    }
    const sub = positionals.length === 0 ? cmd.commands.find((c) => c.name() === a || c.aliases().includes(a)) : null;
    if (sub) cmd = sub;
    else positionals.push(a);
  }
  const declared = cmd.registeredArguments;
  if (cmd.commands.length > 0 && positionals.length > 0)
    problems.push(`"${cmd.name()}" has no subcommand ${positionals[0]}`);
  else if (cmd.commands.length === 0) {
    if (complete && positionals.length < declared.filter((a) => a.required).length)
      problems.push(`"${cmd.name()}" needs ${declared.map((a) => a.name()).join(' ')}`);
    if (!declared.some((a) => a.variadic) && positionals.length > declared.length)
      problems.push(`"${cmd.name()}" takes no argument ${positionals[declared.length]}`);
  }
  return problems;
}

function agentProblems(args: string[]): string[] {
  const [command, ...rest] = args;
  if (command === undefined || command === '--help' || command === '--version') return [];
  if (command !== 'run' && command !== 'scan') return [`hvmap-agent has no command ${command}`];
  const problems: string[] = [];
  for (const a of rest) {
    if (!a.startsWith('--')) continue;
    const name = a.slice(2).split('=')[0];
    const spec = (AGENT_OPTIONS as Record<string, { commands: readonly string[] }>)[name];
    if (name !== 'help' && !spec?.commands.includes(command)) problems.push(`hvmap-agent ${command} has no --${name}`);
  }
  return problems;
}

/** Why a shown command is checked but not run here; null: run it. */
function notRunBecause(c: ShownCommand): string | null {
  const line = [...Object.values(c.env), ...c.args].join(' ');
  if (/…|<[a-z-]+>|:\/\/\S*\.example\b|\b[A-Z]{3,}\b/.test(line))
    return 'it holds a placeholder for the reader to fill in';
  if (c.program === 'hvmap' && ['serve', 'demo', 'install', 'uninstall'].includes(c.args[0]))
    return 'it runs until stopped or needs hosts; tested by its own end-to-end tests';
  if (c.program === 'hvmap-agent' && c.args[0] === 'run') return 'it runs until stopped';
  if (c.args.includes('qemu:///system')) return 'it needs a libvirtd (the real-KVM tests run one)';
  return null;
}

const readmes = ['README.md', ...findReadmes('collector'), ...findReadmes('agent'), ...findReadmes('shared')];
const shown = readmes.flatMap((f) => shownCommands(f, readFileSync(path.join(ROOT, f), 'utf8')));

function findReadmes(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('README.md') && !f.includes('node_modules') && !f.includes('dist'))
    .map((f) => path.join(dir, f));
}

describe('the commands README shows', () => {
  it('finds them (fenced and inline, in every README)', () => {
    expect(shown.filter((c) => c.fenced && c.file === 'README.md').length).toBeGreaterThan(15);
    expect(shown.filter((c) => !c.fenced).length).toBeGreaterThan(20);
    expect(new Set(shown.map((c) => c.file)).size).toBeGreaterThan(2);
  });

  it.each(shown.map((c) => [`${c.file}:${c.line} ${c.text}`, c] as const))('%s is a valid command line', (_, c) => {
    const problems =
      c.program === 'hvmap' ? collectorProblems(buildProgram(), c.args, c.fenced) : agentProblems(c.args);
    expect(problems).toEqual([]);
  });
});

describe('the checker', () => {
  it('refuses what the programs would refuse', () => {
    const program = buildProgram();
    expect(collectorProblems(program, ['report', '--bd'], true)).toEqual(['"report" has no option --bd']);
    expect(collectorProblems(program, ['tokens', 'mint', 'x'], true)).toEqual(['"tokens" has no subcommand mint']);
    expect(collectorProblems(program, ['tokens', 'create'], true)).toEqual(['"create" needs name']);
    expect(collectorProblems(program, ['report', '--db'], true)).toEqual(['--db needs a value']);
    expect(agentProblems(['scan', '--collector', 'ws://x'])).toEqual(['hvmap-agent scan has no --collector']);
    expect(shellCommands(`a 'b|c' "d#e" f\\ g && h; i | j # k`)).toEqual([
      ['a', 'b|c', 'd#e', 'f g'],
      ['h'],
      ['i'],
      ['j'],
    ]);
  });
});

describe('README, run', () => {
  let dir: string;
  let collector: RunningCollector;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hvmap-readme-'));
    collector = await startCollector({
      db: path.join(dir, 'data', 'hvmap.db'),
      listen: '127.0.0.1:0',
      logger: pino({ level: 'silent' }),
    });
    for (const host of testFleet()) {
      // Under names of its own: README creates kvm-01's token.
      const { token } = collector.tokens.create(`fleet-${host.agent}`);
      const agent = await ProtocolAgent.connect(collector.agentUrl, token, host);
      await agent.report();
      await agent.close();
    }
  });
  afterAll(async () => {
    await collector.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const fenced = shown.filter((c) => c.file === 'README.md' && c.fenced);
  const runnable = fenced.filter((c) => notRunBecause(c) === null);

  it('runs at least the report, check, catalog, alerts, tokens and tls commands', () => {
    const run = new Set(runnable.map((c) => c.args[0]));
    expect([...run].sort()).toEqual(expect.arrayContaining(['alerts', 'catalog', 'check', 'report', 'tls', 'tokens']));
  });

  it.each(runnable.map((c) => [`README.md:${c.line} ${c.text}`, c] as const))('%s', async (_, c) => {
    const args = c.args.map((a) => a.replaceAll('http://127.0.0.1:8600', collector.url));
    const r = await runCli(c.program === 'hvmap' ? COLLECTOR_CLI : AGENT_CLI, args, { ...c.env }, { cwd: dir });
    expect(r.code, `${c.text}\n${r.stderr}`).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });
});

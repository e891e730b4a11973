/**
 * The Hyper-V driver over Windows OpenSSH, on a replayed transcript: a stand-in for the host's sshd
 * takes each command line as the login shell would (cmd.exe by default), runs what powershell.exe
 * would be given, and answers from the case's captures. The parsing of both sides is independent of
 * the code that builds the command lines.
 */
import { fileURLToPath } from 'node:url';
import { DRIVERS, replayRunner, scanOnce } from '@hvmap/agent';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Remote } from '../install/plan.js';
import { WINDOWS_HOST_FACTS_SCRIPT } from './host-facts.js';
import { scanRemote } from './scan.js';
import { encodedPowerShell, windowsCommand, windowsReadFile } from './ssh-runner.js';

const CASE = fileURLToPath(new URL('./testcases/ws2019-openssh/', import.meta.url));

/** PowerShell's single-quote characters (the language spec: ' and U+2018, U+2019, U+201A, U+201B). */
const SINGLE_QUOTES = new Set(["'", '\u2018', '\u2019', '\u201A', '\u201B']);

/** Reads `'word' 'word' ...` as PowerShell's tokenizer does: a doubled quote char inside is one. */
function readSingleQuotedWords(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ') {
      i++;
      continue;
    }
    if (!SINGLE_QUOTES.has(text[i])) throw new Error(`not a single-quoted word at ${i}: ${text.slice(i, i + 20)}`);
    let word = '';
    i++;
    for (;;) {
      if (i >= text.length) throw new Error('unterminated quoted word');
      if (SINGLE_QUOTES.has(text[i])) {
        if (SINGLE_QUOTES.has(text[i + 1])) {
          word += text[i];
          i += 2;
          continue;
        }
        i++;
        break;
      }
      word += text[i++];
    }
    words.push(word);
  }
  return words;
}

/** What powershell.exe is given by a command line: its flags and the decoded script. */
function parsePowerShellLine(line: string): { flags: string[]; script: string } {
  // cmd.exe splits on spaces; the line must hold nothing it or PowerShell would read as syntax.
  expect(line).toMatch(/^[A-Za-z0-9+/=. -]+$/);
  const words = line.split(' ');
  expect(words[0]).toBe('powershell.exe');
  expect(words.at(-2)).toBe('-EncodedCommand');
  return { flags: words.slice(1, -2), script: Buffer.from(words.at(-1) as string, 'base64').toString('utf16le') };
}

const CALL =
  /^\$ProgressPreference = 'SilentlyContinue'; try \{ & (.*) \} catch \[System\.Management\.Automation\.CommandNotFoundException\] \{ \[Console\]::Error\.WriteLine\(\$_\.Exception\.Message\); exit 127 \}; exit \$LASTEXITCODE$/s;

const READ = /^try \{ \[Console\]::Out\.Write\(\[IO\.File\]::ReadAllText\((.*)\)\) \} catch \{ exit 1 \}$/s;

/** Windows OpenSSH with cmd.exe as its shell, in front of a replayed Hyper-V host. */
function windowsOpenSsh(dir: string) {
  const replay = replayRunner(dir);
  const lines: string[] = [];
  const remote: Remote = {
    async run(step) {
      if (step.kind !== 'exec') throw new Error('nothing is uploaded by a scan');
      lines.push(step.command);
      if (step.command === 'uname -s')
        return {
          code: 1,
          stdout: '',
          stderr:
            "'uname' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
        };
      const { flags, script } = parsePowerShellLine(step.command);
      if (script === '$PSVersionTable.PSVersion.Major') return { code: 0, stdout: '5\r\n', stderr: '' };
      const read = READ.exec(script);
      if (read) {
        const text = await replay.readFile(readSingleQuotedWords(read[1])[0]);
        return text === null ? { code: 1, stdout: '', stderr: '' } : { code: 0, stdout: text, stderr: '' };
      }
      const call = CALL.exec(script);
      const [program, ...args] = call
        ? readSingleQuotedWords(call[1])
        : ['powershell.exe', ...flags, '-Command', script];
      const result = await replay.run(program, args);
      if (result.error === 'ENOENT')
        return { code: 127, stdout: '', stderr: `The term '${program}' is not recognized as the name of a cmdlet` };
      return { code: result.code, stdout: result.stdout, stderr: result.stderr };
    },
    close() {},
  };
  return { remote, lines, uncaptured: replay.uncaptured };
}

describe('a Hyper-V host over Windows OpenSSH', () => {
  it('reads what the agent reads on the host itself, from one encoded PowerShell per script', async () => {
    const host = windowsOpenSsh(CASE);
    const remote = await scanRemote(host.remote, { driver: 'auto' });
    const hyperv = DRIVERS.filter((d) => d.name === 'hyperv').map((d) => d.create({}));
    const local = await scanOnce(hyperv, replayRunner(CASE), { detect: false, hostFacts: remote.host });
    expect(host.uncaptured).toEqual([]);
    expect(remote.hypervisor).toEqual(local.hypervisor);
    expect(remote.guests).toEqual(local.guests);
    expect(remote.guests.length).toBeGreaterThan(0);
    expect(remote.drivers.filter((d) => d.ok).map((d) => d.driver)).toEqual(['hyperv']);
    expect(remote.host).toEqual({
      hostname: 'HV-2019-01',
      os: {
        platform: 'Windows',
        distro: 'Microsoft Windows Server 2019 Datacenter',
        release: '10.0.17763',
        kernel: '10.0.17763',
        arch: '64-bit',
      },
      cpu: { manufacturer: 'GenuineIntel', brand: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz', cores: 80, sockets: 2 },
      memoryBytes: 274877906944,
      manufacturer: 'Dell Inc.',
      model: 'PowerEdge R740',
    });
    // The Hyper-V scripts reach powershell.exe as they are, once each: never wrapped in a second PowerShell.
    const scripts = host.lines.filter((l) => l !== 'uname -s').map((l) => parsePowerShellLine(l).script);
    const calls = scripts.flatMap((script) => {
      const call = CALL.exec(script);
      return call ? [readSingleQuotedWords(call[1])[0]] : [];
    });
    expect(calls.filter((program) => /powershell/i.test(program))).toEqual([]);
    const direct = scripts.filter((script) => !CALL.test(script) && !READ.test(script));
    expect(direct).toContain(WINDOWS_HOST_FACTS_SCRIPT);
    expect(
      direct.filter((script) => /Get-Service -Name vmms|Hyper-V\\Get-VM|Msvm_KvpExchangeComponent/.test(script)),
    ).toHaveLength(3);
  });

  it('passes any program and arguments to PowerShell exactly, in a line no Windows shell reinterprets', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((p) => !/^powershell(\.exe)?$/i.test(p)),
        fc.array(fc.oneof(fc.string(), fc.constantFrom("'", '\u2019', "''", '-Command', '$x', '`n', '"a b"'))),
        (program, args) => {
          const { script } = parsePowerShellLine(windowsCommand(program, args));
          const call = CALL.exec(script);
          expect(call).not.toBeNull();
          expect(readSingleQuotedWords((call as RegExpExecArray)[1])).toEqual([program, ...args]);
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });

  it('hands the driver its own PowerShell flags and script, and reads a file whole', () => {
    const line = windowsCommand('powershell.exe', [
      '-NoProfile',
      '-NonInteractive',
      '-Command',
      "Get-VM | Select 'Name'",
    ]);
    expect(parsePowerShellLine(line)).toEqual({
      flags: ['-NoProfile', '-NonInteractive'],
      script: "Get-VM | Select 'Name'",
    });
    expect(parsePowerShellLine(windowsReadFile("C:\\it's here.txt")).script).toBe(
      "try { [Console]::Out.Write([IO.File]::ReadAllText('C:\\it''s here.txt')) } catch { exit 1 }",
    );
    expect(encodedPowerShell('x', [])).toBe(
      `powershell.exe -EncodedCommand ${Buffer.from('x', 'utf16le').toString('base64')}`,
    );
  });
});

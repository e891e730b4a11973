import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseOsRelease } from './os-release.js';

const testcase = (name: string) =>
  readFileSync(new URL(`./testcases/python-distro/${name}/etc/os-release`, import.meta.url), 'utf8');

describe('parseOsRelease', () => {
  it('reads double-quoted, single-quoted and bare values', () => {
    expect(parseOsRelease(`NAME="Fedora Linux"\nID=fedora\nVERSION_ID='38'\n`)).toEqual({
      NAME: 'Fedora Linux',
      ID: 'fedora',
      VERSION_ID: '38',
    });
  });

  it('skips comments, blank lines and lines that are no assignment', () => {
    const text = '# os-release\n\n  # indented comment\nID=debian\nnot an assignment\n=no-key\n';
    expect(parseOsRelease(text)).toEqual({ ID: 'debian' });
  });

  it('unescapes backslashes inside double quotes and outside quotes, but not inside single quotes', () => {
    const text = String.raw`A="say \"hi\" for \$5 \\ ok"
B=bare\ word
C='keep \n as is'
D="a\nb"`;
    expect(parseOsRelease(text)).toEqual({
      A: 'say "hi" for $5 \\ ok',
      B: 'bare word',
      C: 'keep \\n as is',
      D: 'a\\nb',
    });
  });

  it('joins adjacent quoted pieces and drops a comment after the value', () => {
    expect(parseOsRelease(`X="a"'b'c # trailing\n`)).toEqual({ X: 'abc' });
  });

  it('lets a later assignment win, as a shell sourcing the file would', () => {
    expect(parseOsRelease('ID=a\nID=b\n')).toEqual({ ID: 'b' });
  });

  it('reads CRLF files and empty values', () => {
    expect(parseOsRelease('ID=rhel\r\nVARIANT=""\r\nVERSION_ID="9.2"\r\n')).toEqual({
      ID: 'rhel',
      VARIANT: '',
      VERSION_ID: '9.2',
    });
  });

  it('keeps an unterminated quote to the end of the line', () => {
    expect(parseOsRelease('NAME="broken\nID=x')).toEqual({ NAME: 'broken', ID: 'x' });
  });

  it('reads a real RHEL 9 os-release', () => {
    const f = parseOsRelease(testcase('rhel9'));
    expect(f.ID).toBe('rhel');
    expect(f.VERSION_ID).toBe('9.6');
    expect(f.PRETTY_NAME).toBe('Red Hat Enterprise Linux 9.6 (Plow)');
  });

  it('reads a real Debian os-release whose values are partly bare', () => {
    const f = parseOsRelease(testcase('debian10'));
    expect(f.ID).toBe('debian');
    expect(f.VERSION_ID).toBe('10');
    expect(f.PRETTY_NAME).toBe('Debian GNU/Linux 10 (buster)');
  });
});

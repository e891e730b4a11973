import { describe, expect, it } from 'vitest';
import { isNewerThanVersionSpec, matchesVersionSpec, parseVersionSpecItem } from './version-spec.js';

describe('matchesVersionSpec', () => {
  it.each([
    ['9.2', ['9'], true],
    ['9', ['9'], true],
    ['10.0', ['9'], false],
    ['8', ['8.0'], true],
    ['2008 R2', ['2008'], false],
    ['2008 R2', ['2008 R2'], true],
    ['RHEL 9.2', ['RHEL'], true],
    ['RHEL 9.2', ['RHEL 9'], true],
    ['Ubuntu 22.04', ['RHEL'], false],
    ['7.2', ['7.0-7.2'], true],
    ['7.3', ['7.0-7.2'], false],
    ['10', ['10.0-10.3'], true],
    ['8.10', ['8.1-8.6+'], true],
    ['8.0', ['8.1-8.6+'], false],
    ['9.0', ['8.1-8.6+'], false],
    ['2022', ['2019+'], true],
    ['2016', ['2019+'], false],
    ['Windows 11', ['2019+'], false],
    ['2012 R2', ['2012 R2+'], true],
    ['2012', ['2012 R2+'], false],
    ['2012 R2', ['2008 R2-2019'], true],
    ['RHEL 6.10', ['RHEL 5.4-RHEL 7+'], true],
    ['RHEL 7.9', ['RHEL 5.4-RHEL 7+'], true],
    ['RHEL 8.1', ['RHEL 5.4-RHEL 7+'], false],
    ['RHEL 5.3', ['RHEL 5.4-RHEL 7+'], false],
    ['20.04', ['0-20.04'], true],
    ['22.04', ['0-20.04'], false],
    ['XP', ['XP', 'Vista'], true],
    ['', ['0-10'], false],
  ] as const)('%s in %j is %s', (version, items, expected) => {
    expect(matchesVersionSpec(version, items)).toBe(expected);
  });
});

describe('isNewerThanVersionSpec', () => {
  const ubuntu = ['12.04', '14.04', '16.04', '18.04', '18.10', '19.04', '20.04', '22.04', '24.04'];
  const oracle = ['6.8-6.10', '7.3-7.8', '8.0-8.5', '9.0'];
  it.each([
    ['25.04', ubuntu, true],
    ['26.04', ubuntu, true],
    ['23.10', ubuntu, false],
    ['22.04', ubuntu, false],
    ['10.04', ubuntu, false],
    ['8.6', oracle, true],
    ['8.10', oracle, true],
    ['9.1', oracle, true],
    ['10', oracle, true],
    ['7.9', oracle, true],
    ['7.2', oracle, false],
    ['8.5', oracle, false],
    ['5.11', oracle, false],
    ['8.10', ['8.1-8.6+'], false],
    ['9.0', ['8.1-8.6+'], true],
    ['2028', ['2019+'], false],
    ['16.1', ['11.3', '12.5', '15.7'], true],
    ['15.8', ['11.3', '12.5', '15.7'], true],
    ['11.2', ['11.3', '12.5', '15.7'], false],
    ['9.1', ['9'], false],
    ['XP', ['7', '8.1', '10'], false],
    ['', ['1'], false],
  ] as const)('%s above %j is %s', (version, items, expected) => {
    expect(isNewerThanVersionSpec(version, items)).toBe(expected);
  });
});

describe('parseVersionSpecItem', () => {
  it('reads the four forms', () => {
    expect(parseVersionSpecItem('9')).toEqual({ kind: 'exact', version: '9' });
    expect(parseVersionSpecItem('2019+')).toEqual({ kind: 'from', from: '2019' });
    expect(parseVersionSpecItem('7.0-7.2')).toEqual({ kind: 'range', from: '7.0', to: '7.2', openSeries: false });
    expect(parseVersionSpecItem('8.1-8.6+')).toEqual({ kind: 'range', from: '8.1', to: '8.6', openSeries: true });
  });

  it('says what is wrong with a bad item', () => {
    expect(parseVersionSpecItem('7.2-7.0')).toEqual({ error: '"7.2-7.0": the range starts after it ends' });
    expect(parseVersionSpecItem('RHEL 5-7')).toHaveProperty('error', expect.stringContaining('same label'));
    expect(parseVersionSpecItem('1-2-3')).toHaveProperty('error', expect.stringContaining('not a range'));
    expect(parseVersionSpecItem('+')).toHaveProperty('error', expect.stringContaining('empty'));
  });
});

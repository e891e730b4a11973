import { describe, expect, it } from 'vitest';
import { compareVersions, parseVersionParts } from './version.js';

describe('compareVersions', () => {
  it.each([
    ['7.10', '7.9'],
    ['2012 R2', '2012'],
    ['2008 R2', '2008'],
    ['24.04', '22.04'],
    ['12 SP3', '12 SP2'],
    ['15 SP5', '15'],
    ['2016', '2012 R2'],
    ['9.2', '9'],
    ['10.0', '9.6'],
    ['8.10', '8.9'],
    ['1.0.1', '1.0rc1'],
    ['22.04.3', '22.04'],
  ])('ranks %s above %s, and the reverse below', (higher, lower) => {
    expect(compareVersions(higher, lower)).toBeGreaterThan(0);
    expect(compareVersions(lower, higher)).toBeLessThan(0);
  });

  it.each([
    ['11', '11.0'],
    ['7', '7.0.0'],
    ['2012 R2', '2012r2'],
    ['15-SP5', '15 SP5'],
    ['12.04', '12.4'],
    ['', ''],
  ])('treats %s and %s as the same release', (a, b) => {
    expect(compareVersions(a, b)).toBe(0);
    expect(compareVersions(b, a)).toBe(0);
  });

  it('sorts a mixed list of releases the way a person reads them', () => {
    const sorted = ['2019', '2008 R2', '2012', '2003', '2012 R2', '2008', '2016', '2022'].sort(compareVersions);
    expect(sorted).toEqual(['2003', '2008', '2008 R2', '2012', '2012 R2', '2016', '2019', '2022']);
  });
});

describe('parseVersionParts', () => {
  it('splits numbers from words and drops separators', () => {
    expect(parseVersionParts('7.10')).toEqual([7, 10]);
    expect(parseVersionParts('2012 R2')).toEqual([2012, 'r', 2]);
    expect(parseVersionParts('12 SP3')).toEqual([12, 'sp', 3]);
    expect(parseVersionParts('15-SP5')).toEqual([15, 'sp', 5]);
    expect(parseVersionParts('')).toEqual([]);
  });
});

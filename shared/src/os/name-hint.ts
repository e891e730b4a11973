import { distroCandidate, type OsCandidate } from './distros.js';

/** What the digits of a name give: the version, or null when they are not a plausible release of that OS. */
type Build = (m: RegExpExecArray) => OsCandidate | null;

// A hint starts at the beginning of a word ("rhel9-web01", "prod_win2019") and its digits end at a
// non-digit, so "rhel86" or "myubuntu" say nothing.
const START = '(?<![a-z])';
const SEP = '[-_. ]?';

const release =
  (distro: string): Build =>
  (m) =>
    distroCandidate(distro, m[2] ? `${m[1]}.${m[2]}` : m[1]);

const windowsServer = (year: string, r2: string | undefined): OsCandidate => ({
  family: 'windows',
  distro: 'windows-server',
  version: r2 ? `${year} R2` : year,
  display: 'Windows Server',
});

const shortYears: Record<string, string> = {
  '3': '2003',
  '8': '2008',
  '12': '2012',
  '16': '2016',
  '19': '2019',
  '22': '2022',
  '25': '2025',
};

const HINTS: [RegExp, Build][] = [
  [new RegExp(`${START}rhel${SEP}(10|[3-9])(?:[._](\\d{1,2}))?(?!\\d)`), release('rhel')],
  [new RegExp(`${START}centos${SEP}(10|[3-9])(?:[._](\\d{1,2}))?(?!\\d)`), release('centos')],
  [new RegExp(`${START}(?:oel|ol|oracle(?:linux)?)${SEP}(10|[5-9])(?:[._](\\d{1,2}))?(?!\\d)`), release('ol')],
  [new RegExp(`${START}rocky${SEP}(10|[89])(?:[._](\\d{1,2}))?(?!\\d)`), release('rocky')],
  [new RegExp(`${START}alma(?:linux)?${SEP}(10|[89])(?:[._](\\d{1,2}))?(?!\\d)`), release('almalinux')],
  [new RegExp(`${START}sles${SEP}(1[0-6])(?:${SEP}sp(\\d))?(?!\\d)`), release('sles')],
  [new RegExp(`${START}ubuntu${SEP}([12]\\d)[._]?(04|10)(?!\\d)`), release('ubuntu')],
  [new RegExp(`${START}debian${SEP}(1[0-3]|[5-9])(?!\\d)`), release('debian')],
  [new RegExp(`${START}fedora${SEP}([1-4]\\d)(?!\\d)`), release('fedora')],
  [new RegExp(`${START}freebsd${SEP}(1[0-5]|[5-9])(?:[._](\\d))?(?!\\d)`), release('freebsd')],
  [
    new RegExp(
      `${START}(?:win(?:dows)?|ws)${SEP}(?:srv|server)?${SEP}(2003|2008|2012|2016|2019|2022|2025)(r2)?(?!\\d)`,
    ),
    (m) => windowsServer(m[1], m[2]),
  ],
  [new RegExp(`${START}w(?:in)?2k(3|8|12|16|19|22|25)(r2)?(?!\\d)`), (m) => windowsServer(shortYears[m[1]], m[2])],
  [
    new RegExp(`${START}win(?:dows)?${SEP}(11|10|8|7)(?!\\d)`),
    (m) => ({ family: 'windows', distro: 'windows', version: m[1], display: 'Windows' }),
  ],
];

/**
 * A guest's name read for an obvious OS in it ("rhel9-web01", "win2019-dc", "ubuntu2204"). Weak
 * evidence: used only when nothing else identifies the guest.
 */
export function nameHintCandidate(name: string): OsCandidate | null {
  const lower = name.toLowerCase();
  for (const [re, build] of HINTS) {
    const m = re.exec(lower);
    if (m) return build(m);
  }
  return null;
}

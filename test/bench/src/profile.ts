/**
 * CPU profiles of a window of work (the V8 sampling profiler through node:inspector, as
 * `--cpu-prof` records a whole process), and their summary: where the samples fall, by function
 * (self time), by function including callees, and by component (ws, JSON, TypeBox, SQLite, ...).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

let session: Session | null = null;

function post<T>(s: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    s.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))),
  );
}

/** Starts sampling this process every 250 µs. */
export async function startProfile(): Promise<void> {
  session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: 250 });
  await post(session, 'Profiler.start');
}

/** Stops sampling and writes the profile (a .cpuprofile, readable by Chrome DevTools) to `file`. */
export async function stopProfile(file: string): Promise<string> {
  if (!session) throw new Error('no profile running');
  const { profile } = await post<{ profile: CpuProfile }>(session, 'Profiler.stop');
  session.disconnect();
  session = null;
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  /** Share of samples in which the process was idle (waiting in the event loop). */
  idlePct: number;
  /** Functions by self time, as a % of busy samples. */
  topSelf: { fn: string; where: string; pct: number }[];
  /** Functions including their callees, as a % of busy samples (a sample counts once per function). */
  topInclusive: { fn: string; where: string; pct: number }[];
  /** Busy samples by component, in %. */
  byComponent: Record<string, number>;
}

function shortUrl(url: string): string {
  const m = /\/(collector|shared|agent)\/dist\/(.*)$/.exec(url) ?? /node_modules\/(.*)$/.exec(url);
  if (m) return m[2] ? `${m[1]}/${m[2]}` : m[1];
  return url.replace(/^file:\/\//, '').replace(/^node:/, 'node:');
}

/** better-sqlite3's native methods, as V8 names them in a profile. */
const SQLITE_NATIVE = new Set(['all', 'run', 'get', 'iterate', 'Statement', 'exec', 'prepare', 'pragma']);

function component(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)') return 'V8/native (program)';
  if (/node_modules\/better-sqlite3/.test(url)) return 'better-sqlite3';
  if (/node_modules\/ws\//.test(url)) return 'ws';
  if (/node_modules\/typebox/.test(url)) return 'typebox';
  if (/node_modules\/(pino|sonic-boom|thread-stream|fast-redact|quick-format)/.test(url)) return 'pino (logging)';
  if (/\/collector\/dist\/store\//.test(url)) return 'collector store';
  if (/\/collector\/dist\/alerts\//.test(url)) return 'collector alerts';
  if (/\/collector\/dist\/(compat|catalog|map)\//.test(url)) return 'collector evaluation';
  if (/\/collector\/dist\//.test(url)) return 'collector (other)';
  if (/\/shared\/dist\/os\//.test(url)) return 'shared OS identification';
  if (/\/shared\/dist\//.test(url)) return 'shared protocol';
  // Native methods have no URL: better-sqlite3's statements, JSON, socket writes.
  if (url === '' && SQLITE_NATIVE.has(fn)) return 'better-sqlite3';
  if (url === '' && (fn === 'parse' || fn === 'stringify')) return `JSON.${fn}`;
  if (url === '' && (fn === 'writev' || fn === 'writeUtf8String' || fn === 'writeBuffer')) return 'socket writes';
  if (url.startsWith('node:') || url === '') return 'node core / builtins';
  return 'other';
}

/**
 * Summarises a .cpuprofile. Builtins such as JSON.parse have no URL: they are reported under their
 * own name, so "JSON.parse" and "JSON.stringify" show as components of their own.
 */
export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const weight = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    weight.set(id, (weight.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...weight.values()].reduce((a, b) => a + b, 0);
  let idle = 0;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const comp = new Map<string, number>();
  const keyOf = (n: CpuProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'}\u0000${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  for (const [id, w] of weight) {
    const n = byId.get(id);
    if (!n) continue;
    const fn = n.callFrame.functionName;
    if (fn === '(idle)') {
      idle += w;
      continue;
    }
    const key = keyOf(n);
    self.set(key, (self.get(key) ?? 0) + w);
    // A component is decided by the innermost frame that is not a builtin, except for JSON itself.
    let c = component(n.callFrame.url, fn);
    if (c === 'node core / builtins' && fn !== '(program)') {
      for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
        const pn = byId.get(p);
        if (!pn?.callFrame.url || pn.callFrame.url.startsWith('node:')) continue;
        const pc = component(pn.callFrame.url, pn.callFrame.functionName);
        if (pc === 'better-sqlite3' || pc === 'ws') c = `${pc}`;
        break;
      }
    }
    comp.set(c, (comp.get(c) ?? 0) + w);
    const seen = new Set<string>();
    for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) {
      const pn = byId.get(p);
      if (!pn) break;
      const k = keyOf(pn);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + w);
    }
  }
  const busy = total - idle || 1;
  const rank = (m: Map<string, number>, skipRoots: boolean) =>
    [...m]
      // Including callees, the socket plumbing (node streams, ws's receiver) holds everything: left out.
      .filter(([k]) => {
        if (!skipRoots) return true;
        const [fn, where] = k.split('\u0000');
        return !fn.startsWith('(') && !/^(node:|ws\/|:0)/.test(where);
      })
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, w]) => {
        const [fn, where] = k.split('\u0000');
        return { fn, where, pct: Math.round((1000 * w) / busy) / 10 };
      });
  return {
    file,
    sampledMs: Math.round(total / 1000),
    idlePct: Math.round((1000 * idle) / (total || 1)) / 10,
    topSelf: rank(self, false),
    topInclusive: rank(inclusive, true),
    byComponent: Object.fromEntries(
      [...comp].sort((a, b) => b[1] - a[1]).map(([k, w]) => [k, Math.round((1000 * w) / busy) / 10]),
    ),
  };
}

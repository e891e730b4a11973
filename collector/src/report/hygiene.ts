/**
 * What an agent sends is untrusted text on every screen, file and chat it reaches: these functions
 * make it inert there. Pure; used by every table, CSV and webhook writer.
 */
import Table from 'cli-table3';

/**
 * C0 and C1 controls (ESC starts terminal escape sequences), DEL, and the Unicode bidirectional
 * overrides and isolates (which reorder what a reader sees).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: dropping control characters is what this is for
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** The text with its control characters dropped, for a terminal. */
export function printable(value: unknown): string {
  return (value === null || value === undefined ? '' : String(value)).replace(UNPRINTABLE, '');
}

/**
 * One RFC 4180 field. A cell that begins with = + - @, a tab or a carriage return would run as a
 * formula in a spreadsheet: it gets a leading quote (OWASP, "CSV Injection"). Fields with commas,
 * quotes or line breaks are quoted, inner quotes doubled.
 */
export function csvField(value: unknown): string {
  const raw = value === null || value === undefined ? '' : String(value);
  const s = /^[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Text for chat tools (Slack, Mattermost, Teams read the same markup): &, < and > escaped, so
 * "<!channel>" or "<https://x|label>" in a guest's name shows as written instead of pinging a channel
 * or hiding a link.
 */
export function chatText(text: string): string {
  return printable(text).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A terminal table without colours (pipes, NO_COLOR, logs), whose cells are printable text. */
export function terminalTable(head: string[], options: { colWidths?: (number | null)[]; wordWrap?: boolean } = {}) {
  const table = new Table({ head, style: { head: [], border: [] }, ...options });
  return {
    push: (cells: unknown[]) => table.push(cells.map(printable)),
    toString: () => table.toString(),
  };
}

/** "1 host", "2 hosts": a count as a sentence says it. */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/**
 * Parses an os-release file (https://www.freedesktop.org/software/systemd/man/os-release.html):
 * `KEY=value` lines in shell syntax, values double- or single-quoted or bare, `#` comments and blank
 * lines ignored. A later assignment of the same key wins, as it would in a shell that sources the file.
 */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) fields[m[1]] = shellWord(m[2]);
  }
  return fields;
}

/**
 * Reads one shell word: quoted and bare pieces concatenate (`"a"'b'c` is `abc`), backslash escapes
 * apply outside single quotes, and the word ends at unquoted whitespace (a trailing comment is dropped).
 */
function shellWord(raw: string): string {
  let out = '';
  let i = 0;
  while (i < raw.length && !/\s/.test(raw[i])) {
    const c = raw[i];
    if (c === "'") {
      const end = raw.indexOf("'", i + 1);
      const stop = end < 0 ? raw.length : end;
      out += raw.slice(i + 1, stop);
      i = stop + 1;
    } else if (c === '"') {
      i++;
      while (i < raw.length && raw[i] !== '"') {
        // Inside double quotes a backslash escapes only these characters; elsewhere it stays.
        if (raw[i] === '\\' && i + 1 < raw.length && '"\\$`'.includes(raw[i + 1])) i++;
        out += raw[i++];
      }
      i++;
    } else {
      if (c === '\\' && i + 1 < raw.length) i++;
      out += raw[i++];
    }
  }
  return out;
}

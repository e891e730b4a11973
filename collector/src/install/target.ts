/** One host to install on, as the operator wrote it: `USER@HOST[:PORT]`, plus per-host settings. */
export interface Target {
  user: string;
  host: string;
  port: number;
  /** Name of the agent's token at the collector; derived from host and port unless given. */
  name: string;
  /** Private key for this host, overriding `--identity`. */
  identity?: string;
  /** The other `KEY=VALUE` settings its file line gave, of those the file's reader allows. */
  settings?: Record<string, string>;
}

/** What `USER@HOST[:PORT]` looks like in messages: the port only when it is not 22. */
export function targetLabel(t: Pick<Target, 'user' | 'host' | 'port'>): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user}@${host}${t.port === 22 ? '' : `:${t.port}`}`;
}

/** A token name for a host: the collector accepts `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`. */
export function defaultTokenName(host: string, port: number): string {
  const base = `${host}${port === 22 ? '' : `-${port}`}`
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return (base || 'host').slice(0, 128);
}

/**
 * Parses `USER@HOST[:PORT]` (`[v6addr]:PORT` for IPv6). The user defaults to `defaultUser`, as with
 * OpenSSH. Throws a message fit for a usage error.
 */
export function parseTarget(text: string, defaultUser: string): Target {
  const at = text.lastIndexOf('@');
  const user = at >= 0 ? text.slice(0, at) : defaultUser;
  const rest = at >= 0 ? text.slice(at + 1) : text;
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (v6) {
    host = v6[1];
    portText = v6[2];
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) throw new Error(`"${text}": write an IPv6 address as USER@[ADDRESS]:PORT`);
    [host, portText] = parts;
  }
  if (!user || /\s/.test(user)) throw new Error(`"${text}" has no valid user; expected USER@HOST[:PORT]`);
  if (!host || /[\s/@]/.test(host)) throw new Error(`"${text}" has no valid host; expected USER@HOST[:PORT]`);
  const port = portText === undefined ? 22 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`"${text}": port "${portText}" is not a number from 1 to 65535`);
  }
  return { user, host, port, name: defaultTokenName(host, port) };
}

/**
 * The `--hosts` file: one host a line, `USER@HOST[:PORT]` then optional `name=TOKEN_NAME` and
 * `identity=KEY_FILE` (and the `extraKeys` a reader allows, into `settings`: `serve --poll` takes
 * `libvirt-uri=`); `#` starts a comment. Errors name the line.
 */
export function parseHostsFile(text: string, defaultUser: string, extraKeys: readonly string[] = []): Target[] {
  const targets: Target[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*$/, '').trim();
    if (!line) continue;
    const [first, ...settings] = line.split(/\s+/);
    try {
      const target = parseTarget(first, defaultUser);
      for (const setting of settings) {
        const eq = setting.indexOf('=');
        const key = setting.slice(0, eq);
        const value = setting.slice(eq + 1);
        if (eq <= 0 || !value) throw new Error(`"${setting}" is not KEY=VALUE`);
        if (key === 'name') target.name = value;
        else if (key === 'identity') target.identity = value;
        else if (extraKeys.includes(key)) target.settings = { ...target.settings, [key]: value };
        else
          throw new Error(
            `unknown setting "${key}"; expected ${['name', 'identity', ...extraKeys].map((k) => `${k}=`).join(', ')}`,
          );
      }
      targets.push(target);
    } catch (err) {
      throw new Error(`line ${i + 1}: ${(err as Error).message}`);
    }
  }
  return targets;
}

/**
 * The request target of an HTTP request or upgrade as a URL on this server. Only the origin form
 * ("/path?query") is taken: "//host/x" and "/\host" stay paths on this host (WHATWG URL parsing would
 * read them as another host, or throw), and anything else (absolute form, "*", garbage) is null, which
 * the caller answers with 400.
 */
export function requestTarget(raw: string | undefined): URL | null {
  const target = raw ?? '/';
  if (!target.startsWith('/')) return null;
  try {
    return new URL(`http://collector${target}`);
  } catch {
    return null;
  }
}

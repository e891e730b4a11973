/** Debian's Chromium as the tests and the benchmarks start it (never a downloaded browser). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Flags for a closed network in a container: without the background-networking ones Chromium keeps
 * reaching for Google's hosts at every start; a container's /dev/shm may be 64 MB, which makes
 * renderers hang, so shared memory goes to /tmp instead.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

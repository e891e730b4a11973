/** Debian's Chromium, headless, driven by playwright-core (never a downloaded browser). */
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Flags for a closed network in a container: without the background-networking ones Chromium keeps
 * reaching for Google's hosts at every start; a container's /dev/shm may be 64 MB, which makes
 * renderers hang, so shared memory goes to /tmp instead.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** The first start on a fresh machine under a loaded CI took longer than playwright's 30 s default. */
export const CHROMIUM_LAUNCH_MS = 90_000;

export function launchChromium(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
    timeout: CHROMIUM_LAUNCH_MS,
  });
}

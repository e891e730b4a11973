/** Debian's Chromium, headless, driven by playwright-core (never a downloaded browser). */
import { type BrowserContext, chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../bench/src/chromium.js';

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

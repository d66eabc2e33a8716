/**
 * A headless Chromium for tests that look at the HTML report as a reader would: Debian's
 * `chromium` or `chromium-headless-shell` (or $CTXBENCH_CHROMIUM), driven by playwright-core.
 * `.ci/run` installs one when it is missing; elsewhere the browser tests skip and say why.
 */
import { existsSync } from 'node:fs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-headless-shell', '/usr/lib/chromium/chromium-headless-shell', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The browser executable, or null when this machine has none. */
export function chromiumPath(): string | null {
  const fromEnv = process.env.CTXBENCH_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** Why browser tests cannot run here, or null when they can. */
export function browserSkipReason(): string | null {
  return chromiumPath() === null
    ? `no headless Chromium (looked for $CTXBENCH_CHROMIUM, ${CANDIDATES.join(', ')}): apt-get install chromium`
    : null;
}

/** Flags for a closed network: no background traffic, no sandbox as root, a fresh profile per launch. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

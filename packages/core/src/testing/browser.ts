// Headless Chromium for tests of kmx's web pages: Debian's /usr/bin/chromium driven by
// playwright-core (never a downloaded browser). Kept out of the testing index so that tests
// without a page never load playwright-core.
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * The machine's network is closed: without these flags Chromium keeps trying to reach its
 * services, and as root it needs --no-sandbox.
 */
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
];

export interface TestBrowser {
  readonly browser: Browser;
  /** A fresh context (own cookies) with one page; console errors and page errors are collected. */
  newPage(options?: { viewport?: { width: number; height: number } }): Promise<{ context: BrowserContext; page: Page; errors: string[] }>;
  close(): Promise<void>;
}

/** Starts headless Chromium; playwright gives it an empty profile of its own and removes it on close. */
export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  return {
    browser,
    async newPage(options = {}) {
      const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (err) => errors.push(err.message));
      return { context, page, errors };
    },
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

/**
 * Where tests put screenshots and other artifacts: $KMX_TEST_ARTIFACTS, or test-artifacts/ at
 * the top of the checkout (ignored by git). Made on first use.
 */
export function artifactDirectory(...parts: string[]): string {
  const dir = join(process.env.KMX_TEST_ARTIFACTS ?? join(repository, 'test-artifacts'), ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

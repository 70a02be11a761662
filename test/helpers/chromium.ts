/**
 * The page of `consistency web` in headless Chromium (Debian's chromium driven by playwright-core),
 * served by `consistency serve`'s server on 127.0.0.1: building the site, launching the browser with
 * its one set of flags, and waiting on the page's state. test/browser.test.ts and bench/onnx.ts use it.
 */
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { consistency } from './cli.js';
import { serveSite } from '../../src/cli/serve.js';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless, no sandbox, no GPU (so the page has no WebGPU adapter and falls back to wasm), and
 * nothing the browser would fetch on its own (updates, sync, QUIC): every request is the page's.
 */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Builds the page for a checkpoint into `out` with `consistency web` (extra flags after --ckpt/--out); throws with its stderr when it fails. */
export function buildSite(ckpt: string, out: string, flags: readonly string[] = []): void {
  const r = consistency('web', '--ckpt', ckpt, '--out', out, ...flags);
  if (r.status !== 0) throw new Error(`consistency web failed (${String(r.status)}): ${r.stderr}`);
}

/** A site served on 127.0.0.1 and a browser to open it in; `close` stops both. */
export interface SiteBrowser {
  context: BrowserContext;
  /** 'http://127.0.0.1:PORT', the site's origin. */
  origin: string;
  close(): Promise<void>;
}

/** Serves `site` on a free port of 127.0.0.1 and launches Chromium with a persistent profile in `profileDir`; throws when Chromium is missing. */
export async function openSite(site: string, profileDir: string): Promise<SiteBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh does)`);
  const context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  let server: Server;
  try {
    server = await serveSite(site, 0, '127.0.0.1');
  } catch (e) {
    await context.close();
    throw e;
  }
  const close = async (): Promise<void> => {
    await context.close();
    await new Promise<void>((done) => server.close(() => done()));
  };
  const address = server.address();
  if (!address || typeof address !== 'object') {
    await close();
    throw new Error('the site server has no port');
  }
  return { context, origin: `http://127.0.0.1:${address.port}`, close };
}

/** Waits until the page's state (document.body.dataset.state) is one of `states`; its 'error' state throws with the page's #error text. */
export async function waitPageState(page: Page, states: readonly string[], timeoutMs: number): Promise<void> {
  const wanted = JSON.stringify([...states, 'error']);
  // The page's code runs in the browser: it gets an expression (these files are compiled without DOM types).
  await page.waitForFunction(`${wanted}.includes(document.body.dataset.state)`, undefined, { timeout: timeoutMs });
  if ((await page.evaluate('document.body.dataset.state')) === 'error') throw new Error(`the page failed: ${await page.textContent('#error')}`);
}

// kmx ui's first load in headless Chromium: from navigation (the URL with the token, its
// redirect and cookie included) to the load event, and to the first data from the API drawn
// (the mounts table). The peer is the same page served by a bare node:http server (no checks,
// canned API answers), in the same run, so the ratio is what kmx ui's security checks and its
// real API cost. The goal: under 300 ms to the load event.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { launchBrowser, type TestBrowser } from '@kmx/core/testing/browser';
import { kmxBin } from './lib/kmx.js';
import { median } from './lib/measure.js';
import { result, type BenchResult } from './lib/results.js';
import { BENCH_DIR, runIfMain } from './lib/workdir.js';

export const name = 'kmx ui first load';
export const peer = 'a bare node:http server';

const ROUNDS = 15;
const WEB = join(BENCH_DIR, '..', 'plugins', 'ui', 'dist', 'web');

interface Timing {
  load: number;
  data: number;
}

async function startKmxUi(): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, [kmxBin(), 'ui', '--no-open'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, DISPLAY: '', WAYLAND_DISPLAY: '' } });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /serving on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`kmx ui exited ${code}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

/** The page's files and canned API answers, with none of kmx ui's checks. */
async function startBareServer(): Promise<{ url: string; server: Server }> {
  const files: Record<string, [string, string]> = {
    '/': ['index.html', 'text/html'], '/assets/app.js': ['app.js', 'text/javascript'], '/assets/app.css': ['app.css', 'text/css'],
  };
  const api: Record<string, unknown> = {
    '/api/session': { user: 'root', uid: 0, mountKinds: ['passthrough', 'sftp', 'enc', 'nfs', 'procsys'], graphViewer: false },
    '/api/mounts': { mounts: [] },
    '/api/nfs': { mounts: [], kmxd: false },
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const file = files[path];
    if (file) {
      response.writeHead(200, { 'Content-Type': file[1] }).end(readFileSync(join(WEB, file[0])));
    } else if (path in api) {
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(api[path]));
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/?token=x`, server };
}

async function firstLoad(browser: TestBrowser, url: string): Promise<Timing> {
  const { context, page } = await browser.newPage();
  try {
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('#mount-list table, #mount-list .empty');
    const text = await page.evaluate('JSON.stringify({ load: performance.getEntriesByType("navigation")[0].loadEventEnd, data: performance.getEntriesByName("kmx-first-data")[0].startTime })');
    return JSON.parse(String(text)) as Timing;
  } finally {
    await context.close();
  }
}

export async function run(_work: string): Promise<BenchResult[]> {
  const browser = await launchBrowser();
  const kmxUi = await startKmxUi();
  const bare = await startBareServer();
  try {
    // One load each first: Chromium's own start-up and the server's first compile are no page's cost.
    await firstLoad(browser, kmxUi.url);
    await firstLoad(browser, bare.url);
    const kmx: Timing[] = [];
    const peers: Timing[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      kmx.push(await firstLoad(browser, kmxUi.url));
      peers.push(await firstLoad(browser, bare.url));
    }
    const at = (list: Timing[], key: keyof Timing): number => median(list.map((t) => t[key]));
    return [
      result('navigation to load event (token, redirect, cookie)', at(kmx, 'load'), at(peers, 'load'), 'ms', 'goal: under 300 ms'),
      result('navigation to the first API data drawn', at(kmx, 'data'), at(peers, 'data'), 'ms', 'kmx: the real mount listing (mountinfo, records, a probe per mount)'),
    ];
  } finally {
    kmxUi.stop();
    bare.server.close();
    await browser.close();
  }
}

await runIfMain(import.meta.url, 'ui', run);

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { artifactDirectory, launchBrowser, type TestBrowser } from '@kmx/core/testing/browser';
import type { Page } from 'playwright-core';
import { namespaceGraphModel, syntheticGraphModel } from '../src/index.js';
import { startViewerPage, type ViewerPage } from './fixtures/viewer-page.js';
import { NamespaceLab, comm, inodeOf, nsLink } from './lab.js';

/**
 * The graph viewer (dist/web/graph-viewer.js) in headless Chromium, on a page served as kmx ui
 * serves it (strict CSP), with the namespaces this test makes: a user namespace owning a net
 * and a uts namespace (unshare), and a bind-mounted net namespace (ip netns add). It asserts
 * only on those, so it runs beside other tests.
 */

interface View {
  zoom: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

async function viewOf(page: Page): Promise<View> {
  const svg = page.locator('svg.nsg-svg');
  const read = async (name: string): Promise<number> => Number(await svg.getAttribute(`data-${name}`));
  return { zoom: await read('zoom'), x: await read('view-x'), y: await read('view-y'), width: await read('view-width'), height: await read('view-height') };
}

// Code that runs in the page is given as text: this package is compiled without the DOM's types.
const SAVED_SVG_CONTENTS = `(text) => {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  return {
    error: doc.querySelector('parsererror')?.textContent ?? null,
    root: doc.documentElement.tagName,
    viewBox: doc.documentElement.getAttribute('viewBox'),
    nodes: [...doc.querySelectorAll('g[data-node-id]')].map((g) => g.getAttribute('data-node-id')),
    legend: doc.querySelectorAll('g.nsg-legend').length,
  };
}`;

interface SavedSvg {
  error: string | null;
  root: string;
  viewBox: string | null;
  nodes: string[];
  legend: number;
}

function near(actual: number, expected: number, what: string, tolerance = 0.01): void {
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${what}: ${actual}, expected ${expected}`);
}

function addNetns(name: string): number {
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ip netns add ${name}: ${r.stderr}`);
  return statSync(`/run/netns/${name}`).ino;
}

function deleteNetns(name: string): void {
  spawnSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
}

describe('the namespace graph viewer in a browser', () => {
  const lab = new NamespaceLab();
  const netns = [`kmxt-graph-${process.pid}`, `kmxt-graph-new-${process.pid}`];
  let browser: TestBrowser | undefined;
  let server: ViewerPage | undefined;
  let ours: { pid: number; user: number; net: number; uts: number; bound: number };

  before(async () => {
    const ourUser = nsLink('self', 'user');
    const pid = await lab.start('unshare', ['--user', '--map-root-user', '--net', '--uts', 'sleep', '600'], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ourUser);
    ours = { pid, user: inodeOf(pid, 'user'), net: inodeOf(pid, 'net'), uts: inodeOf(pid, 'uts'), bound: addNetns(netns[0]!) };
    server = await startViewerPage(async (query) => {
      const synthetic = query.get('synthetic');
      return synthetic === null ? namespaceGraphModel({ processes: query.has('processes') }) : syntheticGraphModel(Number(synthetic));
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    for (const name of netns) deleteNetns(name);
    await lab.cleanUp();
  });

  async function open(query = ''): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
    const { context, page, errors } = await browser!.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${server!.url}${query}`);
    await page.waitForSelector('body[data-ready="yes"]', { timeout: 30_000 });
    return { page, errors, close: () => context.close() };
  }

  const node = (page: Page, inode: number) => page.locator(`g.nsg-node[data-node-id="ns${inode}"]`);

  it('draws the namespaces it made, each in its owner\'s frame, with no console error', async () => {
    const { page, errors, close } = await open('?model=processes');
    try {
      for (const inode of [ours.user, ours.net, ours.uts, ours.bound]) assert.equal(await node(page, inode).count(), 1, `ns${inode} drawn`);
      const frame = await page.locator(`g.nsg-card[data-card-id="ns${ours.user}"] > rect`).boundingBox();
      for (const inode of [ours.net, ours.uts]) {
        const box = await node(page, inode).boundingBox();
        assert.ok(frame && box && box.x >= frame.x && box.y >= frame.y && box.x + box.width <= frame.x + frame.width + 1 && box.y + box.height <= frame.y + frame.height + 1,
          `ns${inode} lies in the frame of its owner user:[${ours.user}]`);
      }
      const sleep = page.locator(`g.nsg-node[data-node-id="p${ours.pid}"]`);
      assert.match((await sleep.textContent()) ?? '', /in user net uts/, 'the sleep, drawn as a process in its frame, names the namespaces it is in');
      // Its edges say what the frame says already: drawn only for the node selected.
      const selector = `path.nsg-edge[data-from="p${ours.pid}"][data-to="ns${ours.net}"]`;
      const edge = page.locator(selector);
      const visibility = async (): Promise<unknown> => page.evaluate(`getComputedStyle(document.querySelector('${selector}')).visibility`);
      assert.equal(await visibility(), 'hidden');
      await node(page, ours.net).click();
      assert.equal(await edge.getAttribute('data-lit'), 'yes');
      assert.equal(await visibility(), 'visible');
      assert.equal(await page.locator('g.nsg-legend').count(), 1);
      await page.screenshot({ path: join(artifactDirectory('ns-graph'), 'viewer.png') });
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });

  it('zooms with + - 1 and the wheel, moves with a drag, shows keys with h, saves SVG with s, closes with q', async () => {
    const { page, errors, close } = await open();
    try {
      const svg = page.locator('svg.nsg-svg');
      const screen = (await svg.boundingBox())!;
      await page.locator('.nsg-root').focus();
      const start = await viewOf(page);
      near(start.width, screen.width / start.zoom, 'viewBox width is the screen at this zoom');
      await page.keyboard.press('+');
      near((await viewOf(page)).zoom, start.zoom * 1.25, '+ zooms in');
      await page.keyboard.press('+');
      await page.keyboard.press('-');
      near((await viewOf(page)).zoom, start.zoom * 1.25, '- zooms out');
      await page.keyboard.press('1');
      const reset = await viewOf(page);
      near(reset.zoom, 1, '1 resets the zoom');
      near(reset.width, screen.width, 'at 100 % one unit is one pixel');

      // The wheel zooms about the pointer: the picture's point under it stays there.
      const sx = 300;
      const sy = 250;
      await page.mouse.move(screen.x + sx, screen.y + sy);
      await page.mouse.wheel(0, -200);
      await page.waitForFunction(`Number(document.querySelector('svg.nsg-svg').dataset.zoom) > ${reset.zoom}`);
      const wheeled = await viewOf(page);
      assert.ok(wheeled.zoom > reset.zoom, 'wheel up zooms in');
      near(wheeled.x + sx / wheeled.zoom, reset.x + sx / reset.zoom, 'the point under the pointer stays (x)');
      near(wheeled.y + sy / wheeled.zoom, reset.y + sy / reset.zoom, 'the point under the pointer stays (y)');

      await page.mouse.down();
      await page.mouse.move(screen.x + sx - 120, screen.y + sy - 60, { steps: 6 });
      await page.mouse.up();
      const dragged = await viewOf(page);
      near(dragged.zoom, wheeled.zoom, 'a drag does not zoom');
      near(dragged.x, wheeled.x + 120 / wheeled.zoom, 'dragging left moves the view right');
      near(dragged.y, wheeled.y + 60 / wheeled.zoom, 'dragging up moves the view down');

      // Keys work with the focus on the toolbar's buttons too; Fit shows the whole picture.
      await page.locator('.nsg-fit').click();
      const fitted = await viewOf(page);
      const background = page.locator('rect.nsg-background');
      assert.ok(fitted.width >= Number(await background.getAttribute('width')) - 1 && fitted.height >= Number(await background.getAttribute('height')) - 1, 'Fit: all in view');
      await page.keyboard.press('1');
      near((await viewOf(page)).zoom, 1, '1 with the focus on a button');

      const help = page.locator('.nsg-help');
      assert.equal(await help.isVisible(), false);
      await page.keyboard.press('h');
      assert.equal(await help.isVisible(), true, 'h shows the keys');
      assert.match(await help.innerText(), /save the picture as SVG/);
      await page.keyboard.press('h');
      assert.equal(await help.isVisible(), false, 'h again hides them');

      const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('s')]);
      assert.equal(download.suggestedFilename(), 'namespaces.svg');
      const saved = readFileSync((await download.path())!, 'utf8');
      const parsed = (await page.evaluate(`(${SAVED_SVG_CONTENTS})(${JSON.stringify(saved)})`)) as SavedSvg;
      assert.equal(parsed.error, null);
      assert.equal(parsed.root, 'svg');
      assert.match(parsed.viewBox ?? '', /^0 0 \d+ \d+$/, 'the whole picture, not the zoomed view');
      for (const inode of [ours.user, ours.net, ours.uts, ours.bound]) assert.ok(parsed.nodes.includes(`ns${inode}`), `saved SVG has ns${inode}`);
      assert.equal(parsed.legend, 1);

      await page.keyboard.press('q');
      await page.waitForSelector('body[data-closed="yes"]');
      assert.equal(await page.locator('.nsg-root').count(), 0, 'q took the viewer down');
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });

  it('selects on click, collapses a frame, filters by type and searches by inode, pid and command', async () => {
    const { page, errors, close } = await open();
    try {
      await node(page, ours.net).click();
      assert.equal(await page.locator('body').getAttribute('data-selected'), `ns${ours.net}`);
      assert.equal(await node(page, ours.net).getAttribute('data-selected'), 'yes');
      // The margin left of everything, just below the legend, is background.
      const view = await viewOf(page);
      const screen = (await page.locator('svg.nsg-svg').boundingBox())!;
      await page.mouse.click(screen.x + (6 - view.x) * view.zoom, screen.y + (100 - view.y) * view.zoom);
      assert.equal(await page.locator('body').getAttribute('data-selected'), 'none', 'a click on the background clears it');

      await page.locator(`[data-toggle="ns${ours.user}"]`).click();
      assert.equal(await node(page, ours.net).count(), 0, 'collapsed: what it owns is hidden');
      assert.match((await node(page, ours.user).textContent()) ?? '', /2 hidden below/);
      await page.locator(`[data-toggle="ns${ours.user}"]`).click();
      assert.equal(await node(page, ours.net).count(), 1, 'opened again');

      await page.locator('.nsg-collapse-all').click();
      assert.equal(await node(page, ours.net).count(), 0, 'collapse all: frames below the top ones are headers only');
      assert.equal(await node(page, ours.user).count(), 1);
      await page.locator('.nsg-expand-all').click();
      assert.equal(await node(page, ours.net).count(), 1, 'expand all');

      await page.locator('.nsg-filter-box[value="net"]').uncheck();
      assert.equal(await node(page, ours.net).count(), 0, 'net filtered out');
      assert.equal(await node(page, ours.bound).count(), 0);
      assert.equal(await node(page, ours.uts).count(), 1, 'uts stays');
      await page.locator('.nsg-filter-box[value="net"]').check();
      assert.equal(await node(page, ours.net).count(), 1);

      const search = page.locator('.nsg-search');
      await search.fill(String(ours.net));
      assert.match(await page.locator('.nsg-search-count').innerText(), /^1 match$/);
      assert.equal(await node(page, ours.net).getAttribute('data-match'), 'yes');
      assert.equal(await node(page, ours.uts).getAttribute('data-match'), 'no');
      await search.fill(String(ours.pid));
      for (const inode of [ours.user, ours.net, ours.uts]) assert.equal(await node(page, inode).getAttribute('data-match'), 'yes', `pid ${ours.pid} is in ns${inode}`);
      await search.fill('sleep');
      assert.equal(await node(page, ours.user).getAttribute('data-match'), 'yes', 'by command');
      assert.equal(await node(page, ours.bound).getAttribute('data-match'), 'no');

      // A match inside a collapsed frame: Enter opens the frame and goes there.
      await search.fill('');
      await page.locator(`[data-toggle="ns${ours.user}"]`).click();
      await search.fill(String(ours.uts));
      assert.match(await page.locator('.nsg-search-count').innerText(), /1 hidden: Enter shows/);
      await search.press('Enter');
      assert.equal(await node(page, ours.uts).getAttribute('data-match'), 'yes');
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });

  it('refreshes on a timer and on demand, marking what appeared and what vanished', async () => {
    const { page, errors, close } = await open('?refresh=1');
    try {
      const name = netns[1]!;
      const added = addNetns(name);
      const appeared = page.locator(`g.nsg-node[data-node-id="ns${added}"][data-status="appeared"]`);
      await appeared.waitFor({ timeout: 20_000 });
      // Other tests free and take inodes meanwhile: the namespace is followed by its 64-bit id.
      const id = await appeared.getAttribute('data-ns-id');
      assert.ok(id, 'the kernel gives namespaces a 64-bit id (NS_GET_ID)');
      await page.locator('.nsg-live-box').uncheck();
      deleteNetns(name);
      // Unticked, nothing refreshes by itself; the button does.
      await page.waitForFunction(`!document.querySelector('.nsg-status').textContent.startsWith('loading')`);
      await page.locator('.nsg-refresh').click();
      const ghost = page.locator(`g.nsg-node[data-ns-id="${id}"][data-status="vanished"]`);
      await ghost.waitFor({ timeout: 20_000 });
      assert.match(await page.locator('.nsg-status').innerText(), /[1-9]\d* gone/);
      assert.equal(await node(page, ours.net).getAttribute('data-status'), null, 'what stayed is not marked');
      await page.locator('.nsg-refresh').click();
      await ghost.waitFor({ state: 'detached', timeout: 20_000 });
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });

  it('lays out and draws 300 namespaces (synthetic), as a tree rather than a row', async (t) => {
    const { page, errors, close } = await open('?model=synthetic=300&preload');
    try {
      const drawn = await page.locator('g.nsg-node[data-type]:not([data-type="process"])').count();
      assert.ok(drawn >= 300, `${drawn} namespaces drawn`);
      const background = page.locator('rect.nsg-background');
      const picture = { width: Number(await background.getAttribute('width')), height: Number(await background.getAttribute('height')) };
      assert.ok(picture.width <= 2600, `picture ${picture.width} x ${picture.height}: rows wrap`);
      const timing = { firstPaint: await page.locator('body').getAttribute('data-first-paint-ms'), render: await page.locator('svg.nsg-svg').getAttribute('data-render-ms') };
      t.diagnostic(`300 namespaces: layout and drawing ${timing.render} ms, to the first paint ${timing.firstPaint} ms; picture ${picture.width} x ${picture.height}`);
      await page.screenshot({ path: join(artifactDirectory('ns-graph'), 'viewer-300.png') });
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });
});

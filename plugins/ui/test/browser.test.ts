import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, readlink, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readMountinfo } from '@kmx/core';
import { artifactDirectory, launchBrowser, type TestBrowser } from '@kmx/core/testing/browser';
import { freePort, kmxBin, run, runKmx, stopChild, temporaryDirectory } from '@kmx/core/testing';
import type { Page } from 'playwright-core';
import { startUi, type RunningUi } from './ui-server.js';
import { chmod } from 'node:fs/promises';
import { startSshd } from '@kmx/plugin-sftp-fuse/testing';
import { startGanesha } from '@kmx/plugin-nfs-mount/ganesha';
import { withUsers } from './users.js';

// The page in a real browser (headless Chromium): it loads with no console error, each view
// draws, mounts made from it are real and are unmounted from it, a password typed into it
// unlocks an encrypted view. One browser for the file; each test its own context.

const mounted = async (path: string): Promise<boolean> => (await readMountinfo()).some((m) => m.mountpoint === path);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits for a mount asked for on the page; on a timeout, says what the page said. */
async function untilMounted(page: Page, path: string, timeoutMs = 60_000): Promise<void> {
  try {
    await until(`the mount on ${path}`, () => mounted(path), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the page says: ${await page.textContent('#notice').catch(() => '?')}`);
  }
}

/** Waits for an unmount asked for on the page; on a timeout, says what the page said. */
async function untilUnmounted(page: Page, path: string, timeoutMs = 30_000): Promise<void> {
  try {
    await until(`the unmount of ${path}`, async () => !(await mounted(path)), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the page says: ${await page.textContent('#notice').catch(() => '?')}`);
  }
}

async function fillMountForm(page: Page, kind: string, fields: Record<string, string>, choices: { select?: Record<string, string>; check?: string[] } = {}): Promise<void> {
  await page.selectOption('#mount-kind', kind); // draws the form afresh
  for (const [name, value] of Object.entries(choices.select ?? {})) await page.selectOption(`form[data-kind="${kind}"] [name="${name}"]`, value);
  for (const name of choices.check ?? []) await page.check(`form[data-kind="${kind}"] [name="${name}"]`);
  for (const [name, value] of Object.entries(fields)) await page.fill(`form[data-kind="${kind}"] [name="${name}"]`, value);
  await page.click(`form[data-kind="${kind}"] button[type="submit"]`);
}

describe('kmx ui: in a browser', () => {
  let browser: TestBrowser;
  let ui: RunningUi;
  const shots = artifactDirectory('ui');

  before(async () => {
    [browser, ui] = await Promise.all([launchBrowser(), startUi()]);
  });
  after(async () => {
    await ui?.stop();
    await browser?.close();
  });

  it('loads with no console error, drops the token from the address, and draws every view', async () => {
    const { context, page, errors } = await browser.newPage();
    try {
      await page.goto(ui.url, { waitUntil: 'load' });
      assert.equal(page.url(), `http://127.0.0.1:${ui.port}/`);
      await page.waitForSelector('#mount-list table, #mount-list .empty');
      await page.waitForSelector('#who:not(:empty)');
      assert.match(await page.textContent('#who') ?? '', /^root \(uid 0\)$/);
      await page.screenshot({ path: join(shots, 'mounts.png'), fullPage: true });
      for (const [view, ready] of [['ns', '#ns-graph .nsg-node'], ['procsys', '#procsys h3, #procsys .empty'], ['backups', '#backup-jobs table, #backup-jobs .empty']] as const) {
        await page.click(`nav a[data-view="${view}"]`);
        await page.waitForSelector(ready, { timeout: 20_000 });
        assert.equal(new URL(page.url()).pathname, `/${view}`);
        await page.screenshot({ path: join(shots, `${view}.png`), fullPage: true });
      }
      const cookies = await context.cookies();
      assert.equal(cookies.length, 1);
      assert.equal(cookies[0]!.httpOnly, true);
      assert.equal(cookies[0]!.sameSite, 'Strict');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('opened from the launch file xdg-open gets (a file:// page, so another site): signed in, no token left in the history', async () => {
    await temporaryDirectory(async (dir) => {
      const opener = join(dir, 'xdg-open');
      await writeFile(opener, `#!/bin/sh\nprintf '%s' "$1" > '${join(dir, 'opened')}'\n`);
      await chmod(opener, 0o755);
      const desktop = await startUi({ open: true, env: { DISPLAY: ':99', PATH: `${dir}:${process.env.PATH}` } });
      const { context, page, errors } = await browser.newPage();
      try {
        await until('xdg-open', async () => (await readFile(join(dir, 'opened'), 'utf8').catch(() => '')) !== '');
        await page.goto(`file://${await readFile(join(dir, 'opened'), 'utf8')}`);
        await page.waitForURL(`http://127.0.0.1:${desktop.port}/`, { timeout: 20_000 });
        await page.waitForSelector('#mount-list table, #mount-list .empty');
        assert.equal(await page.evaluate('history.length'), 2, 'the launch file and the page: the token\'s page was replaced');
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
        await desktop.stop();
      }
    });
  });

  it('a passthrough mount made from the page is really mounted, and the page unmounts it', async () => {
    await temporaryDirectory(async (dir) => {
      const source = join(dir, 'source');
      const mountpoint = join(dir, 'view');
      await mkdir(source);
      await mkdir(mountpoint);
      await writeFile(join(source, 'hello.txt'), 'from the page\n');
      const { context, page, errors } = await browser.newPage();
      try {
        await page.goto(ui.url);
        await page.waitForSelector('form[data-kind="passthrough"]');
        await fillMountForm(page, 'passthrough', { source, mountpoint });
        await untilMounted(page, mountpoint);
        assert.equal(await readFile(join(mountpoint, 'hello.txt'), 'utf8'), 'from the page\n');
        const button = page.locator(`button.unmount[data-mountpoint="${mountpoint}"]`);
        await button.waitFor({ timeout: 15_000 });
        await page.screenshot({ path: join(shots, 'mounts-passthrough.png'), fullPage: true });
        await button.click();
        await untilUnmounted(page, mountpoint);
        await page.waitForSelector(`button.unmount[data-mountpoint="${mountpoint}"]`, { state: 'detached', timeout: 15_000 });
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  });

  it('an encrypted view unlocked with a password typed into the page; the password appears in no process argument', async () => {
    await temporaryDirectory(async (dir) => {
      const cipher = join(dir, 'cipher');
      const mountpoint = join(dir, 'plain');
      await mkdir(cipher);
      await mkdir(mountpoint);
      const password = 'correct horse battery staple';
      const init = await runKmx(['enc', 'init', cipher], { input: `${password}\n`, timeoutMs: 60_000 });
      assert.equal(init.code, 0, init.stderr);
      const { context, page, errors } = await browser.newPage();
      try {
        await page.goto(ui.url);
        await page.waitForSelector('form[data-kind="passthrough"]');
        // A wrong password first: one line on the page, nothing mounted.
        await fillMountForm(page, 'enc', { dir: cipher, mountpoint, password: 'wrong password' });
        await page.waitForSelector('#notice.error', { timeout: 60_000 });
        assert.match(await page.textContent('#notice') ?? '', /password/i);
        assert.equal(await mounted(mountpoint), false);
        assert.equal(await page.inputValue('form[data-kind="enc"] [name="password"]'), '', 'the password is not kept in the form');
        await fillMountForm(page, 'enc', { dir: cipher, mountpoint, password });
        let seenInArguments = false;
        await until('the encrypted view', async () => {
          for (const pid of await readdir('/proc').then((names) => names.filter((n) => /^\d+$/.test(n)))) {
            const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
            if (cmdline.includes(password)) seenInArguments = true;
          }
          return mounted(mountpoint);
        }, 60_000);
        assert.equal(seenInArguments, false);
        await writeFile(join(mountpoint, 'secret.txt'), 'plain text\n');
        const names = await readdir(cipher);
        assert.ok(!names.includes('secret.txt') && names.length >= 3, names.join(' '));
        const button = page.locator(`button.unmount[data-mountpoint="${mountpoint}"]`);
        await button.waitFor({ timeout: 15_000 });
        await page.screenshot({ path: join(shots, 'mounts-enc.png'), fullPage: true });
        await button.click();
        await untilUnmounted(page, mountpoint);
        assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), [], 'only the wrong password\'s 400');
      } finally {
        await context.close();
      }
    });
  });

  it('an sftp mount logged in with a password typed into the page', async () => {
    await temporaryDirectory(async (dir) => withUsers(1, async ([remote]) => {
      // The remote login: a shell (sftp-server runs through it) and a password; sshd on loopback accepts passwords.
      const password = `pw ${Math.random().toString(36).slice(2)}`;
      assert.equal((await run('usermod', ['--shell', '/bin/sh', remote!.name])).code, 0);
      assert.equal((await run('chpasswd', [], { input: `${remote!.name}:${password}\n` })).code, 0);
      await writeFile(join(remote!.home, 'hello.txt'), 'over sftp\n');
      await run('chown', [`${remote!.uid}:${remote!.gid}`, join(remote!.home, 'hello.txt')]);
      const sshd = await startSshd(join(dir, 'sshd'), { password: true });
      // A server of its own, with a home of its own: no keys or agent to log in with, the host key known.
      const home = join(dir, 'home');
      await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
      await writeFile(join(home, '.ssh', 'known_hosts'), `${sshd.knownHostsLine}\n`);
      const sftpUi = await startUi({ env: { HOME: home, SSH_AUTH_SOCK: '' } });
      const mountpoint = join(dir, 'remote');
      await mkdir(mountpoint);
      const { context, page, errors } = await browser.newPage();
      try {
        await page.goto(sftpUi.url);
        await page.waitForSelector('form[data-kind="passthrough"]');
        await fillMountForm(page, 'sftp', { remote: `${remote!.name}@127.0.0.1:${sshd.port}:${remote!.home}`, mountpoint, password });
        let seenInArguments = false;
        await until('the sftp mount', async () => {
          for (const pid of await readdir('/proc').then((names) => names.filter((n) => /^\d+$/.test(n)))) {
            if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(password)) seenInArguments = true;
          }
          return mounted(mountpoint);
        }, 60_000);
        assert.equal(seenInArguments, false);
        assert.equal(await readFile(join(mountpoint, 'hello.txt'), 'utf8'), 'over sftp\n');
        const button = page.locator(`button.unmount[data-mountpoint="${mountpoint}"]`);
        await button.waitFor({ timeout: 15_000 });
        await page.screenshot({ path: join(shots, 'mounts-sftp.png'), fullPage: true });
        await button.click();
        await untilUnmounted(page, mountpoint);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
        await sftpUi.stop();
        await sshd.stop();
      }
    }));
  });

  it('an NFS mount in user space from the page (nfs-ganesha on loopback), unmounted from the page as kmx nfs umount does', async () => {
    await temporaryDirectory(async (dir) => {
      const exportDir = join(dir, 'export');
      await mkdir(exportDir);
      await writeFile(join(exportDir, 'shared.txt'), 'over nfs\n');
      const ganesha = await startGanesha({ dir: join(dir, 'ganesha'), exportDir, v3: false });
      const mountpoint = join(dir, 'nfs');
      await mkdir(mountpoint);
      const { context, page, errors } = await browser.newPage();
      try {
        await page.goto(ui.url);
        await page.waitForSelector('form[data-kind="passthrough"]');
        // Through kmxd: not here (no kmxd, or no NFS client in this kernel), said in one line on the page.
        await fillMountForm(page, 'nfs', { source: `127.0.0.1:${ganesha.exportPath}`, name: `ui${process.pid}` }, { select: { mode: 'kernel' } });
        await page.locator('#notice.error', { hasText: 'kmxd' }).waitFor({ timeout: 30_000 });
        assert.equal((await page.textContent('#notice'))?.split('\n').length, 1);
        await fillMountForm(page, 'nfs', { source: `127.0.0.1:${ganesha.exportPath}`, name: `ui${process.pid}`, port: String(ganesha.nfsPort), mountpoint }, { select: { mode: 'userspace', vers: '4' } });
        await untilMounted(page, mountpoint);
        assert.equal(await readFile(join(mountpoint, 'shared.txt'), 'utf8'), 'over nfs\n');
        const button = page.locator(`button.unmount[data-mountpoint="${mountpoint}"]`);
        await button.waitFor({ timeout: 15_000 });
        await page.screenshot({ path: join(shots, 'mounts-nfs.png'), fullPage: true });
        await button.click();
        await untilUnmounted(page, mountpoint);
        const listed = await runKmx(['nfs', 'list', '--json']);
        assert.ok(!listed.stdout.includes(`"ui${process.pid}"`), 'kmx nfs forgot it');
        assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), [], 'only the kernel mount\'s 400');
      } finally {
        await context.close();
        await ganesha.stop();
      }
    });
  });

  it('the namespaces view shows namespaces a test made with unshare', async () => {
    let holder: ChildProcess | undefined;
    const { context, page, errors } = await browser.newPage();
    try {
      holder = spawn('unshare', ['--net', '--uts', '--ipc', 'sleep', '120'], { stdio: 'ignore' });
      await until('the unshared process', async () => (await readlink(`/proc/${holder!.pid}/ns/net`).catch(() => '')) !== (await readlink('/proc/self/ns/net')));
      const inode = /\[(\d+)\]/.exec(await readlink(`/proc/${holder.pid}/ns/net`))![1]!;
      await page.goto(new URL(`/ns?token=${ui.token}`, ui.url).href);
      await page.locator('#ns-graph', { hasText: inode }).waitFor({ timeout: 30_000 });
      // The namespaces plugin's viewer: find the node, click it, see its details; q goes back.
      await page.fill('.nsg-search', inode);
      await page.press('.nsg-search', 'Enter');
      await page.locator(`.nsg-node[data-node-id="ns${inode}"]`).click();
      await page.locator('#ns-details h3', { hasText: inode }).waitFor({ timeout: 20_000 });
      await page.locator('#ns-details dl').waitFor();
      assert.match(await page.textContent('#ns-details') ?? '', new RegExp(`${holder.pid}`), 'the details name the process in it');
      await page.screenshot({ path: join(shots, 'ns-unshare.png'), fullPage: true });
      await page.focus('.nsg-root');
      await page.keyboard.press('q');
      await page.waitForSelector('#mount-list');
      assert.equal(new URL(page.url()).pathname, '/');
      assert.deepEqual(errors, []);
    } finally {
      if (holder) await stopChild(holder, 2000);
      await context.close();
    }
  });

  it('a merged procsys mount made from the page: its hosts and figures in the procsys view, unmounted from the page', async () => {
    await temporaryDirectory(async (dir) => {
      const certs = join(dir, 'certs');
      const mountpoint = join(dir, 'proc');
      await mkdir(mountpoint);
      const made = await runKmx(['procsys', 'certs', '--dir', certs, '--node', 'a', '--node', 'me']);
      assert.equal(made.code, 0, made.stderr);
      const port = await freePort();
      const agent = spawn(process.execPath, [kmxBin(), 'procsys', 'serve', '--listen', `127.0.0.1:${port}`, '--certs', certs, '--name', 'a'], { stdio: 'ignore' });
      const { context, page, errors } = await browser.newPage();
      try {
        await page.goto(ui.url);
        await page.waitForSelector('form[data-kind="passthrough"]');
        await fillMountForm(page, 'procsys', { mountpoint, peers: `a=127.0.0.1:${port}`, certs, name: 'me' }, { check: ['allowDown'] });
        await untilMounted(page, mountpoint);
        await page.click('nav a[data-view="procsys"]');
        const cluster = page.locator('#procsys table.hosts', { has: page.locator('td', { hasText: `127.0.0.1:${port}` }) });
        await page.locator('#procsys h3', { hasText: mountpoint }).waitFor({ timeout: 20_000 });
        await until('host a up', async () => {
          await page.click('nav a[data-view="procsys"]');
          await cluster.waitFor({ timeout: 10_000 });
          return (await cluster.innerText()).split('\n').some((line) => line.startsWith('a\tup\t'));
        });
        assert.ok((await cluster.innerText()).split('\n').some((line) => line.startsWith('me\tlocal\t')));
        assert.match((await page.textContent('#procsys')) ?? '', /load \d+\.\d+ \d+\.\d+ \d+\.\d+ .* processes/);
        await page.screenshot({ path: join(shots, 'procsys-cluster.png'), fullPage: true });
        await page.click('nav a[data-view="mounts"]');
        const button = page.locator(`button.unmount[data-mountpoint="${mountpoint}"]`);
        await button.waitFor({ timeout: 15_000 });
        await button.click();
        await untilUnmounted(page, mountpoint);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
        await stopChild(agent, 5000);
      }
    });
  });

  it('a backup started from the page runs to the end, with what it reported', async () => {
    await temporaryDirectory(async (dir) => {
      const source = join(dir, 'data');
      const target = join(dir, 'backup');
      await mkdir(source);
      for (let i = 0; i < 5; i++) await writeFile(join(source, `f${i}`), `file ${i}\n`);
      const { context, page, errors } = await browser.newPage();
      try {
        await page.goto(new URL(`/backups?token=${ui.token}`, ui.url).href);
        await page.fill('#b-source', source);
        await page.fill('#b-target', target);
        await page.click('#backup-form button[type="submit"]');
        const row = page.locator('#backup-jobs tr', { hasText: target });
        await row.waitFor({ timeout: 15_000 });
        await until('the backup to finish', async () => (await row.innerText()).split('\t').includes('done'));
        assert.match(await row.innerText(), /synced/);
        assert.deepEqual((await readdir(target)).filter((n) => n.startsWith('f')).sort(), ['f0', 'f1', 'f2', 'f3', 'f4']);
        await page.screenshot({ path: join(shots, 'backups-done.png'), fullPage: true });
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  });
});

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runtimeSubdir } from '@kmx/core';
import { apiRoutes, BackupJobs, type KmxExecutable } from '../api/index.js';
import { startUiServer, type UiServer, type View } from '../server/server.js';
import type { ListenTarget } from '../server/listen.js';
import { desktopOpener, openInBrowser } from './open-browser.js';
import { removeServerRecord, runningServer, writeServerRecord } from './record.js';

export interface RunUiOptions {
  listen: ListenTarget;
  view: View;
  open: boolean;
  reuse: boolean;
  kmx: KmxExecutable;
  say: (line: string) => void;
  log: (line: string) => void;
}

const viewUrl = (base: string, token: string, view: View): string => `${base}/${view === 'mounts' ? '' : view}?token=${token}`;

/**
 * `kmx ui`: starts the server (or, with reuse, finds one of this user's running servers),
 * prints the URL, opens it where there is a desktop, and serves until `stopped` resolves.
 * Resolves to false when it reused a running server.
 */
export async function runUi(options: RunUiOptions, stopped: Promise<void>): Promise<boolean> {
  if (options.reuse) {
    const running = await runningServer();
    if (running) {
      const url = viewUrl(running.base, running.token, options.view);
      options.say(`kmx ui: already running (pid ${running.pid}): ${url}`);
      await openIfDesktop(options, url);
      return false;
    }
  }
  const backups = new BackupJobs(options.kmx);
  const server: UiServer = await startUiServer({ listen: options.listen, routes: apiRoutes(options.kmx, backups), log: options.log });
  let recordFile: string | undefined;
  try {
    const url = server.url(options.view);
    if (server.listening.kind === 'tcp') {
      recordFile = await writeServerRecord({ pid: process.pid, listening: server.listening, base: `http://127.0.0.1:${server.listening.port}`, token: server.token, startedAt: new Date().toISOString() });
      options.say(`kmx ui: serving on ${url}`);
    } else {
      options.say(`kmx ui: serving on UNIX socket ${server.listening.path} (0600): ${url}`);
    }
    options.say('kmx ui: the URL is a key to act as you (only your own processes may connect); Ctrl-C stops the server');
    if (server.listening.kind === 'tcp') await openIfDesktop(options, url);
    await stopped;
  } finally {
    await backups.stopAll();
    await server.close();
    if (recordFile) await removeServerRecord(recordFile);
    if (server.listening.kind === 'unix') await rm(server.listening.path, { force: true });
    await rm(join(await runtimeSubdir('ui'), `open-${process.pid}.html`), { force: true });
  }
  return true;
}

async function openIfDesktop(options: RunUiOptions, url: string): Promise<void> {
  if (!options.open) return;
  const opener = await desktopOpener();
  if (!opener) return;
  await openInBrowser(opener, url, join(await runtimeSubdir('ui'), `open-${process.pid}.html`));
  options.say('kmx ui: opened in your browser');
}

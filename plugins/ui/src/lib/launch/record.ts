import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { processAlive, runtimeSubdir } from '@kmx/core';
import type { Listening } from '../security/guard.js';

// A record per running server of this user, in kmx's runtime directory (private to the user,
// the file 0600): `kmx ui --reuse` and `kmx ns graph --view` open a running server instead of
// starting another. It holds the launch token, which only a process of the same uid could use
// anyway (the server refuses every other peer).

export interface ServerRecord {
  pid: number;
  listening: Listening;
  /** The page's base URL and the token, to build a view's URL. */
  base: string;
  token: string;
  startedAt: string;
}

const dir = (): Promise<string> => runtimeSubdir('ui');

export async function writeServerRecord(record: ServerRecord): Promise<string> {
  const d = await dir();
  const file = join(d, `server-${record.pid}.json`);
  const tmp = join(d, `.server-${record.pid}.json.tmp`);
  await writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  await rename(tmp, file);
  return file;
}

export async function removeServerRecord(file: string): Promise<void> {
  await rm(file, { force: true });
}

function answers(listening: Listening): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = listening.kind === 'tcp' ? createConnection(listening.port, '127.0.0.1') : createConnection(listening.path);
    const timer = setTimeout(() => finish(false), 1000);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** A running TCP server of this user that accepts connections (the newest), forgetting records of dead ones. */
export async function runningServer(): Promise<ServerRecord | undefined> {
  const d = await dir();
  const found: ServerRecord[] = [];
  for (const name of await readdir(d).catch(() => [])) {
    if (!/^server-\d+\.json$/.test(name)) continue;
    const record = await readFile(join(d, name), 'utf8').then((t) => JSON.parse(t) as ServerRecord, () => undefined);
    if (record === undefined || !processAlive(record.pid)) {
      await rm(join(d, name), { force: true });
      continue;
    }
    if (record.listening.kind === 'tcp' && (await answers(record.listening))) found.push(record);
  }
  return found.sort((a, b) => b.startedAt.localeCompare(a.startedAt))[0];
}

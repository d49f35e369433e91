import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KmxError, processAlive } from '@kmx/core';
import { freePort, listening, listensOn, stopChild } from '@kmx/core/testing';

// nfs-ganesha on loopback, as the tests, the benchmark and the tour run it: a foreground child
// on free ports, stopped by pid. NFSv3 needs rpcbind while ganesha starts (it registers there);
// clients then pass nfsport/mountport and never ask the portmapper.

export interface Ganesha {
  /** The export's path on the server (the pseudo path), e.g. /export. */
  exportPath: string;
  /** The directory ganesha serves. */
  exportDir: string;
  nfsPort: number;
  mountPort: number;
  pid: number;
  log(): Promise<string>;
  /** SIGTERM, wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

export interface GaneshaOptions {
  /** Scratch directory for config, log, pid and recovery state. */
  dir: string;
  exportDir: string;
  /** Serve NFSv3 too (needs rpcbind at start). Default true. */
  v3?: boolean;
  /** Address to bind; default 127.0.0.1. */
  bind?: string;
  /** Ports to serve on (a restart on the ports of an earlier start); default: free ones. */
  nfsPort?: number;
  mountPort?: number;
  /** NFSv4 lease in seconds (ganesha's default: 60); a client that renews nothing for longer loses its state. */
  leaseSeconds?: number;
}

/** Held by whoever starts an rpcbind for ganesha, until it stops it: see holdRpcbindLock. */
const RPCBIND_LOCK = '/run/kmx-ganesha-rpcbind.lock';

/**
 * Serializes ganesha starts that need rpcbind, across processes (test files run side by side):
 * without it one start stops the rpcbind it made while another ganesha is still registering with
 * it, and that one exits with `Cannot register NFS V3`. The lock is a directory holding the
 * holder's pid, made complete elsewhere and renamed into place; a dead holder's lock is taken over.
 */
async function holdRpcbindLock(): Promise<() => Promise<void>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const mine = await mkdtemp(`${RPCBIND_LOCK}.`);
    await writeFile(join(mine, 'pid'), String(process.pid));
    try {
      await rename(mine, RPCBIND_LOCK);
      return () => rm(RPCBIND_LOCK, { recursive: true, force: true });
    } catch (err) {
      await rm(mine, { recursive: true, force: true });
      if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
    const holder = Number(await readFile(join(RPCBIND_LOCK, 'pid'), 'utf8').catch(() => '0'));
    if (holder > 0 && !processAlive(holder)) await rm(RPCBIND_LOCK, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new KmxError(`another ganesha start (pid ${holder}) held ${RPCBIND_LOCK} for 60 s`);
    else await sleep(50);
  }
}

/** rpcbind for ganesha's NFSv3 registration, unless one already listens; resolves with a stop function. */
async function ensureRpcbind(): Promise<() => Promise<void>> {
  if (await listening(111)) return async () => undefined;
  const child = spawn('rpcbind', ['-f'], { stdio: 'ignore' });
  child.on('error', () => undefined);
  for (let i = 0; i < 200 && !(await listening(111)); i++) await sleep(25);
  if (!(await listening(111))) {
    await stopChild(child);
    throw new KmxError('rpcbind did not start', { hint: 'apt-get install rpcbind' });
  }
  return () => stopChild(child);
}

function config(o: { bind: string; nfsPort: number; mountPort: number; v3: boolean; exportDir: string; recovery: string; leaseSeconds?: number | undefined }): string {
  const protocols = o.v3 ? '3, 4' : '4';
  return `NFS_CORE_PARAM {
  Bind_addr = ${o.bind}; NFS_Port = ${o.nfsPort}; Protocols = ${protocols};
  ${o.v3 ? `MNT_Port = ${o.mountPort}; mount_path_pseudo = true;` : ''}
  Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;
}
NFSv4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = ${o.recovery}; Minor_Versions = 0, 1, 2; Only_Numeric_Owners = true;${o.leaseSeconds ? ` Lease_Lifetime = ${o.leaseSeconds};` : ''} }
EXPORT {
  Export_Id = 1; Path = ${o.exportDir}; Pseudo = /export;
  Access_Type = RW; SecType = sys; Protocols = ${protocols}; Transports = TCP;
  Squash = No_Root_Squash; Attr_Expiration_Time = 0;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
`;
}

/** What ganesha logs once it has registered with rpcbind and started serving. */
const INITIALIZED = 'NFS SERVER INITIALIZED';

/**
 * Starts ganesha and resolves once it has said it is initialized. Listening is not enough: it
 * opens its ports before it registers them with rpcbind, and stopping rpcbind in between (a
 * loaded machine, the whole suite beside a VM) left it failing `Cannot register MNT V3` and
 * exiting under a running test.
 */
export async function startGanesha(options: GaneshaOptions): Promise<Ganesha> {
  const v3 = options.v3 ?? true;
  const bind = options.bind ?? '127.0.0.1';
  await mkdir(join(options.dir, 'recovery'), { recursive: true });
  const nfsPort = options.nfsPort ?? (await freePort());
  const mountPort = options.mountPort ?? (await freePort());
  const conf = join(options.dir, 'ganesha.conf');
  const logFile = join(options.dir, 'ganesha.log');
  await writeFile(conf, config({ bind, nfsPort, mountPort, v3, exportDir: options.exportDir, recovery: join(options.dir, 'recovery'), leaseSeconds: options.leaseSeconds }));
  await rm(logFile, { force: true }); // ganesha appends: an earlier start's INITIALIZED must not count
  const unlock = v3 ? await holdRpcbindLock() : async () => undefined;
  const stopRpcbind = v3 ? await ensureRpcbind().catch(async (err: unknown) => { await unlock(); throw err; }) : unlock;
  const done = async (): Promise<void> => {
    await stopRpcbind();
    await unlock();
  };
  const child = spawn('ganesha.nfsd', ['-F', '-f', conf, '-L', logFile, '-p', join(options.dir, 'ganesha.pid'), '-N', 'NIV_EVENT'], { stdio: 'ignore' });
  child.on('error', () => undefined);
  const log = (): Promise<string> => readFile(logFile, 'utf8').catch(() => '');
  try {
    const deadline = Date.now() + 30_000;
    // Its own listeners: a port found free may have been taken by another test's server meanwhile.
    while (!(await log()).includes(INITIALIZED) || !(await listensOn(child.pid!, nfsPort)) || (v3 && !(await listensOn(child.pid!, mountPort)))) {
      if (child.exitCode !== null || child.pid === undefined) throw new KmxError(`ganesha.nfsd exited (${child.exitCode}): ${(await log()).split('\n').filter((l) => /FATAL|CRIT|MAJ/.test(l)).slice(-2).join(' ')}`);
      if (Date.now() > deadline) throw new KmxError('ganesha.nfsd did not start in 30 s');
      await sleep(50);
    }
  } catch (err) {
    await stopChild(child);
    await done();
    throw err;
  }
  // Registered with rpcbind; clients pass the ports, so rpcbind is no longer needed.
  await done();
  return {
    exportPath: '/export', exportDir: options.exportDir, nfsPort, mountPort, pid: child.pid!, log,
    stop: () => stopChild(child),
  };
}

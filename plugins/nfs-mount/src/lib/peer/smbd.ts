import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KmxError } from '@kmx/core';
import { freePort, listensOn, run } from '@kmx/core/testing';

// Samba's smbd on loopback, as the tests and the benchmark run it: a foreground child on a free
// port with a private configuration and private state directories (nothing of the system's
// Samba is read or written), one share, one user with an smbpasswd entry; stopped by pid.

export interface Smbd {
  port: number;
  /** The share's name (the URL is //127.0.0.1/<share>) and the directory it serves. */
  share: string;
  shareDir: string;
  /** Its smb.conf (for smbstatus -s). */
  conf: string;
  /** The server's own pid; it forks one process per client connection. */
  pid: number;
  log(): Promise<string>;
  /** Kills the server and its per-connection processes (SIGKILL: a crash) and waits for them. */
  kill(): Promise<void>;
  /** SIGTERM to the server and its connections, SIGKILL after 10 s; waits for them. */
  stop(): Promise<void>;
}

export interface SmbdOptions {
  /** Scratch directory for the configuration, state and log (made here; its own). */
  dir: string;
  shareDir: string;
  /** A Unix user that smbd maps the Samba account to (made by the caller), and its password. */
  user: string;
  password: string;
  /** Protocols the server offers, as smb.conf spells them; default SMB2_10 .. SMB3_11. */
  minProtocol?: string;
  maxProtocol?: string;
  /** A port to serve on (a restart on the port of an earlier start); default: a free one. */
  port?: number;
  /**
   * A network namespace (under /run/netns) to serve in: clients that cannot name a port
   * (smbnetfs: libsmbclient connects to 445 or 139 when none is set) reach it on 445 there.
   */
  netns?: string;
}

function config(o: SmbdOptions & { port: number }): string {
  const dir = (name: string): string => join(o.dir, name);
  return `[global]
  smb ports = ${o.port}
  bind interfaces only = yes
  interfaces = lo
  disable netbios = yes
  server role = standalone server
  passdb backend = tdbsam:${dir('private/passdb.tdb')}
  private dir = ${dir('private')}
  lock directory = ${dir('lock')}
  state directory = ${dir('state')}
  cache directory = ${dir('cache')}
  pid directory = ${dir('pid')}
  ncalrpc dir = ${dir('ncalrpc')}
  log file = ${dir('smbd.log')}
  log level = 1
  server min protocol = ${o.minProtocol ?? 'SMB2_10'}
  server max protocol = ${o.maxProtocol ?? 'SMB3_11'}
  map to guest = never
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  unix extensions = yes
  kernel oplocks = no
[share]
  path = ${o.shareDir}
  read only = no
  create mask = 0644
  directory mask = 0755
`;
}

/** The live (not zombie) processes of process group `group`: smbd leads its own, with its helpers and per-connection processes. */
async function groupMembers(group: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp …
    if (fields[0] !== 'Z' && Number(fields[2]) === group) out.push(Number(entry));
  }
  return out;
}

async function waitGroupGone(group: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while ((await groupMembers(group)).length > 0) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Starts smbd and resolves once it listens on its port. */
export async function startSmbd(options: SmbdOptions): Promise<Smbd> {
  for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc']) await mkdir(join(options.dir, d), { recursive: true, mode: 0o700 });
  const port = options.port ?? (options.netns ? 445 : await freePort());
  const conf = join(options.dir, 'smb.conf');
  await writeFile(conf, config({ ...options, port }));
  const added = await run('smbpasswd', ['-c', conf, '-a', '-s', options.user], { input: `${options.password}\n${options.password}\n`, timeoutMs: 30_000 });
  if (added.code !== 0) throw new KmxError(`smbpasswd -a ${options.user}: ${added.stderr.trim() || added.stdout.trim()}`);
  // nsenter execs smbd: the child's pid is still smbd's.
  const child = options.netns
    ? spawn('nsenter', [`--net=/run/netns/${options.netns}`, 'smbd', '--foreground', '-s', conf], { stdio: 'ignore' })
    : spawn('smbd', ['--foreground', '-s', conf], { stdio: 'ignore' });
  child.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = (): Promise<string> => readFile(join(options.dir, 'smbd.log'), 'utf8').catch(() => '');
  // smbd makes itself the leader of a process group (its pid): a signal to the group reaches
  // its helpers and its per-connection processes, which outlive a server killed alone.
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const group = child.pid;
    if (group === undefined) return;
    const signalGroup = (s: NodeJS.Signals): void => {
      for (const target of [-group, group]) {
        try {
          process.kill(target, s);
        } catch {
          // gone already (or not yet a group leader: then the pid alone)
        }
      }
    };
    signalGroup(signal);
    if (!(await waitGroupGone(group, 10_000))) signalGroup('SIGKILL');
    await waitGroupGone(group, 5_000);
    if (child.exitCode === null && child.signalCode === null) await exited;
  };
  try {
    const deadline = Date.now() + 30_000;
    while (!(await listensOn(child.pid ?? 0, port))) {
      if (child.exitCode !== null || child.pid === undefined) throw new KmxError(`smbd exited (${child.exitCode}): ${(await log()).split('\n').slice(-3).join(' ')}`);
      if (Date.now() > deadline) throw new KmxError('smbd did not start in 30 s');
      await sleep(25);
    }
  } catch (err) {
    await end('SIGKILL');
    throw err;
  }
  return { port, conf, share: 'share', shareDir: options.shareDir, pid: child.pid!, log, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}

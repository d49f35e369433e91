import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, listensOn, run, stopChild } from '@kmx/core/testing';

/** A throwaway OpenSSH server on 127.0.0.1, key login only (plus password if asked), as a child process. */
export interface TestSshd {
  port: number;
  /** The listening sshd (each connection is served by a child of it). */
  pid: number;
  dir: string;
  /** The client's private key (its public half is authorized). */
  clientKey: string;
  /** A known_hosts line for the server, as kmx should find it. */
  knownHostsLine: string;
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function keygen(file: string): Promise<void> {
  if (await readFile(file).then(() => true, () => false)) return; // a restart keeps its keys
  const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
}

/** Starts sshd; given the `dir` and `port` of an earlier one, the same server comes back (same keys). */
export async function startSshd(dir: string, options: { password?: boolean; extraConfig?: string; port?: number } = {}): Promise<TestSshd> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir('/run/sshd', { recursive: true });
  await keygen(join(dir, 'host_ed25519'));
  await keygen(join(dir, 'client_ed25519'));
  await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_ed25519.pub')));
  // A port found free may be taken by another test's server before sshd binds it: then again
  // on another (unless the port was asked for).
  let port = 0;
  let sshd: ChildProcess | undefined;
  for (let attempt = 1; !sshd; attempt++) {
    port = options.port ?? await freePort();
    const config = [
      `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${dir}/host_ed25519`, `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`, `PermitRootLogin ${options.password ? 'yes' : 'prohibit-password'}`,
      `PasswordAuthentication ${options.password ? 'yes' : 'no'}`, 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no',
      'Subsystem sftp /usr/lib/openssh/sftp-server', options.extraConfig ?? '',
    ].join('\n');
    await writeFile(join(dir, 'sshd_config'), `${config}\n`);
    await rm(join(dir, 'sshd.log'), { force: true });
    const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await listensOn(child.pid!, port))) {
      if (child.exitCode !== null) {
        const log = await readFile(join(dir, 'sshd.log'), 'utf8').catch(() => '');
        if (/Address already in use/.test(log) && options.port === undefined && attempt < 3) break;
        throw new Error(`sshd exited: ${log}`);
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('sshd did not listen in time');
      }
      await sleep(20);
    }
    if (child.exitCode === null) sshd = child;
  }
  const hostPub = (await readFile(join(dir, 'host_ed25519.pub'), 'utf8')).trim().split(/\s+/);
  return {
    port,
    pid: sshd.pid!,
    dir,
    clientKey: join(dir, 'client_ed25519'),
    knownHostsLine: `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}`,
    log: () => readFile(join(dir, 'sshd.log'), 'utf8').catch(() => ''),
    stop: () => stopChild(sshd, 5_000),
  };
}

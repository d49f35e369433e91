// Runs inside the VM (root, in the host's root shared read-only, with tmpfs /run /tmp /home):
// starts kmxd, then as an ordinary user mounts the host's ganesha through kmxd at 4.2, 4.1 and
// 3, writes and reads through the mount and its $HOME link, unmounts with --unlink, and prints
// one line `KMXVM-RESULT {json}` for the host to check.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, chownSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const user = process.env.KMXVM_USER ?? '';
const uid = Number(process.env.KMXVM_UID);
const gid = Number(process.env.KMXVM_GID);
const home = `/home/${user}`;
const kmx = fileURLToPath(new URL('../../../../../packages/cli/bin/run.js', import.meta.url));
const kmxd = fileURLToPath(new URL('../../../../../packages/core/bin/kmxd.js', import.meta.url));

function asUser(args: string[], program = process.execPath): { code: number | null; out: string } {
  const r = spawnSync(program, args, { uid, gid, env: { HOME: home, PATH: '/usr/bin:/bin', USER: user }, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

function mountAt(path: string): { fstype: string; options: string; superOptions: string } | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f[4] === path && sep > 0) return { fstype: f[sep + 1] ?? '', options: f[5] ?? '', superOptions: f[sep + 3] ?? '' };
  }
  return undefined;
}

mkdirSync(home, { recursive: true });
chownSync(home, uid, gid);
const daemon = spawn(process.execPath, [kmxd, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
daemon.stderr.on('data', (d: Buffer) => (log += d.toString()));
for (let i = 0; i < 600 && !existsSync('/run/kmxd.sock'); i++) await new Promise((r) => setTimeout(r, 100));

const results: Record<string, unknown> = { kernel: readFileSync('/proc/version', 'utf8').trim() };
for (const vers of ['4.2', '4.1', '3']) {
  const tag = vers.replace('.', '');
  const name = `v${tag}`;
  const path = `/run/media/${user}/${name}`;
  const link = `${home}/nfs-${tag}`;
  const mount = asUser([kmx, 'nfs', 'mount', '10.0.2.100:/export', name, '--kernel', '--vers', vers, '--link', link, ...(vers === '3' ? ['--mount-port', '20048'] : [])]);
  const m = mountAt(path);
  const io = asUser(['-c', `echo from-guest-${tag} > '${link}/from-guest-${tag}.txt' && cat '${path}/from-guest-${tag}.txt' && cat '${link}/from-host.txt' && stat -c '%u' '${path}/from-guest-${tag}.txt'`], '/bin/sh');
  // In a user and mount namespace of the user's own (a copy of this one), nosuid,nodev stay: the copy is locked.
  const remount = asUser(['-c', `unshare -Urm /bin/sh -c "mount -o remount,bind,suid,dev '${path}'; echo rc=\\$?; grep ' ${path} ' /proc/self/mountinfo"`], '/bin/sh');
  const linkTarget = existsSync(link) ? spawnSync('readlink', [link], { encoding: 'utf8' }).stdout.trim() : '';
  const linkOwner = existsSync(link) ? lstatSync(link).uid : -1;
  const list = asUser([kmx, 'nfs', 'list', '--json']);
  const umount = asUser([kmx, 'nfs', 'umount', name, '--unlink']);
  results[vers] = {
    mount, mounted: m ?? null, io, remount, linkTarget, linkOwner, list, umount,
    afterUnmount: { mounted: mountAt(path) !== undefined, linkExists: existsSync(link) || (() => { try { lstatSync(link); return true; } catch { return false; } })(), dirExists: existsSync(path) },
  };
}
// A hostile request over the real path: an option smuggled in a value, refused with nothing mounted.
results.hostile = asUser([kmx, 'nfs', 'mount', '10.0.2.100:/export', 'evil', '--kernel', '-o', 'sec=sys\\,suid']);
results.hostileMounted = mountAt(`/run/media/${user}/evil`) !== undefined;
// From a mount namespace that the user's own user namespace owns, where nosuid,nodev could be removed: refused.
results.fromUserns = asUser(['-c', `unshare -Urm '${process.execPath}' '${kmx}' nfs mount 10.0.2.100:/export owned --kernel --vers 4.2`], '/bin/sh');
results.fromUsernsMounted = mountAt(`/run/media/${user}/owned`) !== undefined;
daemon.kill('SIGTERM');
await new Promise((r) => daemon.once('exit', r));
results.log = log.split('\n').filter(Boolean).slice(-40);
console.log(`KMXVM-RESULT ${JSON.stringify(results)}`);

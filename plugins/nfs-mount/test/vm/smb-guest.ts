// Runs inside the VM (root, in the host's root shared read-only, with tmpfs /run /tmp /home):
// starts kmxd, then as an ordinary user mounts the host's smbd through kmxd with the kernel's
// CIFS client (password from a 0600 credentials file), writes and reads through the mount and
// its $HOME link, unmounts with --unlink, and prints `KMXVM-RESULT {json}` for the host.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const user = process.env.KMXVM_USER ?? '';
const uid = Number(process.env.KMXVM_UID);
const gid = Number(process.env.KMXVM_GID);
const password = Buffer.from(process.env.KMXVM_SMBPASS ?? '', 'base64');
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

/** Every process's arguments, joined: the password must be in none of them. */
function allCommandLines(): string {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'latin1');
    } catch {
      return '';
    }
  }).join('\n');
}

mkdirSync(home, { recursive: true });
chownSync(home, uid, gid);
const credentials = `${home}/.smbcredentials`;
writeFileSync(credentials, Buffer.concat([Buffer.from(`username=${user}\npassword=`), password, Buffer.from('\n')]), { mode: 0o600 });
chownSync(credentials, uid, gid);
const daemon = spawn(process.execPath, [kmxd, '--log-level', 'debug'], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
daemon.stderr.on('data', (d: Buffer) => (log += d.toString()));
for (let i = 0; i < 600 && !existsSync('/run/kmxd.sock'); i++) await new Promise((r) => setTimeout(r, 100));

// Watch every process's arguments while the mount runs (kmx, kmxd's helper): never the password.
let seenInArgs = false;
const watcher = setInterval(() => {
  if (allCommandLines().includes(password.toString('latin1'))) seenInArgs = true;
}, 5);

const results: Record<string, unknown> = { kernel: readFileSync('/proc/version', 'utf8').trim() };
for (const vers of ['3.1.1', '2.1']) {
  const tag = vers.replaceAll('.', '');
  const name = `s${tag}`;
  const path = `/run/media/${user}/${name}`;
  const link = `${home}/smb-${tag}`;
  const mount = asUser([kmx, 'smb', 'mount', '//10.0.2.100/share', name, '--kernel', '--vers', vers, '--credentials', credentials, '--link', link, ...(vers === '3.1.1' ? ['-o', 'mfsymlinks'] : [])]);
  const m = mountAt(path);
  const io = asUser(['-c', `echo from-guest-${tag} > '${link}/from-guest-${tag}.txt' && cat '${path}/from-guest-${tag}.txt' && cat '${link}/from-host.txt' && stat -c '%u %g %a' '${path}/from-host.txt' && mkdir '${path}/d-${tag}' && stat -c '%u %a' '${path}/d-${tag}'`], '/bin/sh');
  // Hard links (SMB2 has them), and with mfsymlinks symbolic links.
  const links = asUser(['-c', `cd '${path}' && ln from-guest-${tag}.txt hard-${tag} && stat -c %h hard-${tag} && ln -s from-host.txt soft-${tag}; echo rc=$?; readlink soft-${tag}; cat soft-${tag}`], '/bin/sh');
  // The user's own namespaces cannot take nosuid,nodev off.
  const remount = asUser(['-c', `unshare -Urm /bin/sh -c "mount -o remount,bind,suid,dev '${path}'; echo rc=\\$?; grep ' ${path} ' /proc/self/mountinfo"`], '/bin/sh');
  const linkTarget = existsSync(link) ? spawnSync('readlink', [link], { encoding: 'utf8' }).stdout.trim() : '';
  const linkOwner = existsSync(link) ? lstatSync(link).uid : -1;
  const list = asUser([kmx, 'smb', 'list', '--json']);
  const mountinfo = readFileSync('/proc/self/mountinfo', 'latin1');
  const umount = asUser([kmx, 'smb', 'umount', name, '--unlink']);
  results[vers] = {
    mount, mounted: m ?? null, io, links, remount, linkTarget, linkOwner, list, umount,
    passwordInMountinfo: mountinfo.includes(password.toString('latin1')),
    afterUnmount: { mounted: mountAt(path) !== undefined, linkExists: (() => { try { lstatSync(link); return true; } catch { return false; } })(), dirExists: existsSync(path) },
  };
}
// A wrong password: refused by the server through the kernel, one line, nothing left.
const wrong = `${home}/.wrong`;
writeFileSync(wrong, `username=${user}\npassword=not-it\n`, { mode: 0o600 });
chownSync(wrong, uid, gid);
results.wrong = asUser([kmx, 'smb', 'mount', '//10.0.2.100/share', 'wrong', '--kernel', '--credentials', wrong]);
results.wrongMounted = mountAt(`/run/media/${user}/wrong`) !== undefined || existsSync(`/run/media/${user}/wrong`);
// An option smuggled as -o: refused by kmxd.
results.hostile = asUser([kmx, 'smb', 'mount', '//10.0.2.100/share', 'evil', '--kernel', '--credentials', credentials, '-o', 'uid=0']);
clearInterval(watcher);
results.seenInArgs = seenInArgs;
daemon.kill('SIGTERM');
await new Promise((r) => daemon.once('exit', r));
results.passwordInLog = log.includes(password.toString('latin1'));
results.log = log.split('\n').filter(Boolean).slice(-30);
console.log(`KMXVM-RESULT ${JSON.stringify(results)}`);

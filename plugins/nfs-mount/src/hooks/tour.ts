import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Tour } from '@kmx/core';
import { startGanesha } from '../lib/peer/ganesha.js';
import { startSmbd } from '../lib/peer/smbd.js';

/**
 * kmx nfs in the tour: a user-space mount of an nfs-ganesha export on loopback (this host's
 * kernel may have no NFS client: kmx says so and falls back), a link, a backup into it, the
 * listing, and the unmount that removes the link again; then the same with an SMB share.
 */
export default async function nfsTour({ tour }: { tour: Tour }): Promise<void> {
  const dir = await tour.dir();
  const exportDir = join(dir, 'nfs-export');
  const photos = join(dir, 'my-photos');
  const mnt = join(dir, 'nfs-mnt');
  await mkdir(exportDir);
  await mkdir(join(photos, '2024'), { recursive: true });
  await mkdir(mnt);
  await writeFile(join(exportDir, 'welcome.txt'), 'Served by nfs-ganesha on 127.0.0.1.\n');
  await writeFile(join(photos, '2024', 'beach.jpg'), Buffer.alloc(65536, 3));

  tour.section('kmx nfs: NFS for ordinary users (kmxd, or user space)');
  tour.say('nfs-ganesha serves a directory on loopback; kmx mounts it. Without a kernel NFS client or kmxd, kmx says so and mounts in user space (libnfs over FUSE).');
  const g = await startGanesha({ dir: join(dir, 'ganesha'), exportDir });
  try {
    const server = ['--vers', '3', '--port', String(g.nfsPort), '--mount-port', String(g.mountPort)];
    await tour.kmx(['nfs', 'mount', `127.0.0.1:${g.exportPath}`, 'tour', ...server, '--mountpoint', mnt, '--link', join(dir, 'nfs')]);
    await tour.shell(`ls -l '${dir}/nfs/' && cat '${dir}/nfs/welcome.txt'`);
    await tour.kmx(['nfs', 'list']);
    tour.say('A backup into the mount with rsync (--watch would keep syncing changes):');
    await tour.kmx(['nfs', 'backup', photos, join(dir, 'nfs', 'photos-backup')]);
    await tour.shell(`ls -R '${exportDir}/photos-backup'`);
    await tour.kmx(['nfs', 'umount', 'tour', '--unlink']);
    tour.say('kmxd, the root daemon for kernel mounts at /run/media/$USER, documents itself:');
    const kmxd = join(dirname(createRequire(import.meta.url).resolve('@kmx/core/package.json')), 'bin', 'kmxd.js');
    await tour.shell(`'${process.execPath}' '${kmxd}' --help | head -8`);
  } finally {
    await g.stop();
  }
  await smbTour(tour, dir);
}

/**
 * kmx smb: smbd on loopback serves a directory to a Samba account of the user running the tour
 * (smbd maps every account to a Unix user, and the tour makes none; nobody is Samba's guest,
 * which may not log in with a password), mounted with a credentials file. smbd needs root: an
 * ordinary user's tour says so and goes on.
 */
async function smbTour(tour: Tour, dir: string): Promise<void> {
  tour.section('kmx smb: SMB shares for ordinary users (kmxd, or user space)');
  if (process.getuid?.() !== 0) {
    tour.say('Samba\'s smbd needs root to serve a share, so this part of the tour runs only as root.');
    return;
  }
  tour.say('Samba\'s smbd serves a directory on loopback; kmx mounts it with the password from a 0600 credentials file, as mount.cifs reads one. Without kmxd, or a kernel CIFS client, kmx says so and mounts in user space (libsmbclient over FUSE).');
  const shareDir = join(dir, 'smb-share');
  const mnt = join(dir, 'smb-mnt');
  const credentials = join(dir, 'smb-credentials');
  await mkdir(shareDir);
  await mkdir(mnt);
  const user = userInfo().username;
  const password = randomBytes(12).toString('base64url');
  await writeFile(credentials, `username=${user}\npassword=${password}\n`, { mode: 0o600 });
  const smbd = await startSmbd({ dir: join(dir, 'smbd'), shareDir, user, password });
  try {
    await tour.kmx(['smb', 'mount', `//127.0.0.1/${smbd.share}`, 'tour-smb', '--port', String(smbd.port), '--credentials', credentials, '--mountpoint', mnt, '--link', join(dir, 'smb')]);
    await tour.shell(`echo 'Written through SMB.' > '${dir}/smb/hello.txt' && ls -l '${dir}/smb/' && ls -l '${shareDir}'`);
    await tour.kmx(['smb', 'list']);
    await tour.kmx(['smb', 'umount', 'tour-smb', '--unlink']);
  } finally {
    await smbd.stop();
  }
}

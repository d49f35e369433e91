import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tour } from '@kmx/core';

const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/**
 * kmx sftp's part of the tour, on sample data and without SSH keys: a directory mounted over
 * raw SFTP (--via, the qrexec model) from OpenSSH's sftp-server and from kmx's own confined
 * server, and that server browsed with OpenSSH's sftp -D.
 */
export async function sftpTour(tour: Tour): Promise<void> {
  const dir = await tour.dir();
  const share = join(dir, 'share');
  const mnt = join(dir, 'remote');
  const confined = join(dir, 'confined');
  await mkdir(join(share, 'docs'), { recursive: true });
  await mkdir(mnt);
  await mkdir(confined);
  await writeFile(join(share, 'docs', 'notes.txt'), 'Served over SFTP.\n');
  const kmx = `${process.execPath} ${process.argv[1] ?? 'kmx'}`;

  tour.section('kmx sftp: a directory over SFTP, spoken over a command\'s stdin/stdout');
  tour.say('Over SSH it is `kmx sftp mount user@host:/path DIR`; here the same SFTP runs over a pipe to sftp-server (no SSH, no keys).');
  await tour.kmx(['sftp', 'mount', '--daemon', '--via', SFTP_SERVER, `localhost:${share}`, mnt]);
  await tour.shell(`ls -l '${mnt}/docs' && cat '${mnt}/docs/notes.txt'`);
  await tour.shell(`echo 'written through the mount' > '${mnt}/docs/reply.txt' && mv '${mnt}/docs/reply.txt' '${mnt}/docs/answer.txt' && cat '${share}/docs/answer.txt'`);
  await tour.shell(`touch -m -d '2001-02-03 04:05:06' '${mnt}/docs/answer.txt' && stat -c '%y %n' '${share}/docs/answer.txt'`);
  await tour.kmx(['mounts']);
  await tour.kmx(['umount', mnt]);

  tour.section('kmx sftp serve: an SFTP server confined to one directory');
  tour.say('Its root is / for the client: .., absolute paths and symlinks cannot leave it. OpenSSH\'s sftp drives it directly:');
  await writeFile(join(dir, 'batch'), 'ls -l /\ncd ../../..\npwd\nget docs/notes.txt notes-copy.txt\n');
  await tour.shell(`cd '${dir}' && sftp -q -D "${kmx} sftp serve --root '${share}' --read-only" -b batch && cat notes-copy.txt`);
  tour.say('And kmx mounts it read-only through the same pipe:');
  await tour.kmx(['sftp', 'mount', '--daemon', '--read-only', '--via', `${kmx} sftp serve --root '${share}' --read-only`, 'local:/', confined]);
  await tour.shell(`ls '${confined}' '${confined}/docs'; touch '${confined}/new' 2>&1 || true`);
  await tour.kmx(['umount', confined]);
}

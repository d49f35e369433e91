import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tour } from '@kmx/core';

/** The host's part of the tour: what this host supports, then a passthrough mount end to end. */
export async function passthroughTour(tour: Tour): Promise<void> {
  const dir = await tour.dir();
  const src = join(dir, 'photos');
  const mnt = join(dir, 'view');
  await mkdir(join(src, '2024'), { recursive: true });
  await mkdir(mnt);
  await writeFile(join(src, 'README.txt'), 'Sample data for the kmx tour.\n');
  await writeFile(join(src, '2024', 'beach.jpg'), Buffer.alloc(4096, 7));

  tour.section('What this host supports');
  await tour.kmx(['doctor']);

  tour.section('kmx passthrough: a directory mirrored through FUSE');
  await tour.kmx(['passthrough', '--daemon', src, mnt]);
  await tour.shell(`ls -lR '${mnt}'`);
  await tour.shell(`cat '${mnt}/README.txt'`);
  await tour.shell(`echo 'written through the mount' > '${mnt}/note.txt' && cat '${src}/note.txt'`);
  await tour.shell(`touch -m -d '2001-02-03 04:05:06.123456789' '${mnt}/note.txt' && stat -c '%y %n' '${src}/note.txt'`);

  tour.section('kmx mounts: every kmx mount, whatever the plugin');
  await tour.kmx(['mounts']);
  await tour.kmx(['umount', mnt]);
  await tour.kmx(['mounts']);
}

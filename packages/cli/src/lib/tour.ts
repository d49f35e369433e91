import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '@oclif/core';
import { TOUR_HOOK, type Tour } from '@kmx/core';

type TourHook = (options: { tour: Tour }) => Promise<void>;

/**
 * Runs every plugin's kmx-tour hook, one plugin after another in name order. oclif's runHook
 * would start them all at once and interleave their output.
 */
export async function runPluginTours(config: Config, tour: Tour): Promise<void> {
  const plugins = [...config.getPluginsList()].sort((a, b) => a.name.localeCompare(b.name));
  for (const plugin of plugins) {
    for (const hook of plugin.hooks[TOUR_HOOK] ?? []) {
      const file = isAbsolute(hook.target) ? hook.target : join(plugin.root, hook.target);
      const module = (await import(pathToFileURL(file).href)) as Record<string, TourHook | undefined>;
      const run = module[hook.identifier ?? 'default'];
      if (run) await run({ tour });
    }
  }
}

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

// Writes oclif.manifest.json for the host and every plugin, so that `kmx --help` and command
// lookup never import command modules. Uses @oclif/core's own loader (what `oclif manifest`
// does) instead of the heavy oclif dev CLI.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Plugin } from '@oclif/core';

const roots = process.argv.slice(2);
for (const dir of roots) {
  const root = resolve(dir);
  const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true });
  await plugin.load();
  await writeFile(join(root, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest)}\n`);
}

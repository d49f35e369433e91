// The part of kmx that runs oclif, bundled with every command by scripts/bundle.mjs (bin/run.js
// loads the bundle, or this file itself where the bundle has not been built).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execute } from '@oclif/core';

/** Commands that reach into every plugin (their hooks), so they need them all loaded. */
const EVERY_PLUGIN = new Set(['tour', 'doctor']);

/**
 * oclif's configuration with only the plugin that has the command asked for, when the words on
 * the command line name one: loading the seven plugins' packages and manifests is a good part of
 * a command's start-up. Anything else (no command, kmx --help, oclif's own help and
 * autocomplete, a mistyped command) gets the whole configuration.
 */
function narrowed(dir) {
  let owners;
  let pjson;
  const root = fileURLToPath(new URL('..', dir));
  try {
    owners = JSON.parse(readFileSync(new URL('../dist/bundle/command-owners.json', dir), 'utf8'));
    pjson = JSON.parse(readFileSync(new URL('../package.json', dir), 'utf8'));
  } catch {
    return undefined;
  }
  const words = [];
  for (const arg of process.argv.slice(2)) {
    if (arg.startsWith('-')) break;
    words.push(arg);
  }
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(':');
    const owner = Object.hasOwn(owners, id) ? owners[id] : undefined;
    if (owner === undefined) continue;
    if (EVERY_PLUGIN.has(id)) return undefined;
    const plugins = owner === pjson.name ? [] : [owner];
    return { root, pjson: { ...pjson, oclif: { ...pjson.oclif, plugins } } };
  }
  return undefined;
}

export async function main(dir) {
  await execute({ dir, loadOptions: narrowed(dir) });
}

#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';

// `kmx --version` answers before oclif loads, which is most of its start-up: the line oclif's
// own --version prints (its user agent).
if (process.argv[2] === '--version') {
  const { name, version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`);
} else {
  // oclif reads the login shell from the passwd entry when $SHELL is unset, and that
  // throws for a uid without one (setpriv, containers); the shell only matters to autocomplete.
  if (process.env.SHELL === undefined) {
    try { process.env.SHELL = userInfo().shell ?? '/bin/sh'; } catch { process.env.SHELL = '/bin/sh'; }
  }
  // oclif and every command bundled (scripts/bundle.mjs): a few files to read instead of hundreds.
  let bundle;
  try {
    bundle = createRequire(import.meta.url)('@kmx/core/bundle/load.js');
  } catch (err) {
    if (err?.code !== 'MODULE_NOT_FOUND') throw err;
  }
  const { main } = bundle ? bundle.load('main') : await import('./main.js');
  await main(import.meta.url);
}

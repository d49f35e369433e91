// Writes kmx's man pages (packages/cli/dist/man/man1: kmx.1 and one page per command) from the
// commands' own help, once the manifests are written. The install puts them in share/man/man1.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '@oclif/core';

const cli = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'cli');
const { manPages } = await import(join(cli, 'dist', 'src', 'lib', 'man-pages.js'));
const config = await Config.load(cli);
const out = join(cli, 'dist', 'man', 'man1');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
for (const page of manPages(config)) await writeFile(join(out, page.file), page.text);

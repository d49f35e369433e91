import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** A file of random bytes (never zeros: those read back inflated on these hosts), made once. */
export function randomFile(dir: string, mebibytes: number): string {
  const file = join(dir, `random-${mebibytes}M`);
  if (!existsSync(file)) execFileSync('/bin/sh', ['-c', `head -c ${mebibytes * 1048576} /dev/urandom > '${file}'`]);
  return file;
}

/** A tar of a ~2,000-file tree (40 directories × 50 files, 100 B – 20 KiB each), made once. */
export function sampleTree(dir: string): string {
  const tar = join(dir, 'tree.tar');
  if (existsSync(tar)) return tar;
  const root = join(dir, 'tree');
  for (let d = 0; d < 40; d++) {
    const sub = join(root, `dir${d}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(sub, `file${f}.txt`), randomBytes(100 + ((d * 50 + f) * 7919) % 20380));
  }
  execFileSync('tar', ['-C', dir, '-cf', tar, 'tree']);
  return tar;
}

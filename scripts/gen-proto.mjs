// Compiles packages/core/proto/kmxd.proto to static code (pbjs static-module, ES module, no
// verification, conversion or service code): the daemon and its clients then need only
// protobufjs/minimal at run time, which parses no schema. The .js is copied beside the
// compiled TypeScript, since tsc (no allowJs) emits only what it compiles.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const core = join(root, 'packages', 'core');
const proto = join(core, 'proto', 'kmxd.proto');
const out = join(core, 'src', 'daemon', 'gen', 'kmxd.js');
const stamp = `${out}.sha256`;
const want = createHash('sha256').update(readFileSync(proto)).digest('hex');

if (!existsSync(out) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== want) {
  const require = createRequire(join(core, 'package.json'));
  const pbjs = join(dirname(require.resolve('protobufjs-cli/package.json')), 'bin', 'pbjs');
  mkdirSync(dirname(out), { recursive: true });
  execFileSync(process.execPath, [pbjs, '-t', 'static-module', '-w', 'esm', '--no-verify', '--no-convert', '--no-service', '--no-delimited', '-d', '-o', out, proto], { stdio: 'inherit' });
  writeFileSync(stamp, want);
}
const dist = join(core, 'dist', 'src', 'daemon', 'gen');
mkdirSync(dist, { recursive: true });
copyFileSync(out, join(dist, 'kmxd.js'));

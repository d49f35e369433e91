import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mountsUnder, run } from '@kmx/core/testing';

export const checkout = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const TYPES = ['passthrough', 'sftp', 'enc', 'procsys', 'nfs', 'smb'];

export interface Installed {
  bin: string;
  /** Where the mount.fuse.kmx-TYPE links are; laid over /usr/sbin unless they are there already. */
  sbin: string;
  man: string;
}

/**
 * An installed kmx used with the checkout out of reach (an empty tmpfs over it, in a private
 * mount namespace): --version, doctor, a real mount on both engines, mount(8) through the
 * installed helper, kmxd, the man pages. `dir` is a scratch directory.
 */
export async function useInstalled(installed: Installed, dir: string): Promise<void> {
  for (const d of ['src', 'mnt', 'mnt2', 'work']) await mkdir(join(dir, d));
  await writeFile(join(dir, 'src', 'f'), 'from the installed kmx\n');
  const kmx = join(installed.bin, 'kmx');
  const overlay = installed.sbin === '/usr/sbin' ? '' : `mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=${installed.sbin},workdir=${dir}/work /usr/sbin`;
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `
    mount -t tmpfs hidden '${checkout}'
    test -z "$(ls -A '${checkout}')"
    '${kmx}' --version
    '${kmx}' doctor --json > '${dir}/doctor.json'
    for engine in libfuse3 fuse-native; do
      KMX_FUSE_ENGINE=$engine '${kmx}' passthrough --daemon '${dir}/src' '${dir}/mnt' > /dev/null
      cat '${dir}/mnt/f'; '${kmx}' mounts | grep -c "^${dir}/mnt .* $engine " ; '${kmx}' umount '${dir}/mnt'
    done
    ${overlay}
    mount -t fuse.kmx-passthrough '${dir}/src' '${dir}/mnt2' -o noexec
    cat '${dir}/mnt2/f'; umount '${dir}/mnt2'
    '${join(installed.bin, 'kmxd')}' --help | head -1
    MANPATH='${installed.man}' man -w kmx-enc-mount`], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    r.stdout.split('\n')[0], 'from the installed kmx', '1', 'from the installed kmx', '1', 'from the installed kmx',
    'kmxd — the root daemon behind `kmx nfs mount`', join(installed.man, 'man1', 'kmx-enc-mount.1'),
  ]);
  assert.match(r.stdout, /^kmx\/0\.1\.0 linux-x64 node-v2\d\./);
  const doctor = JSON.parse(readFileSync(join(dir, 'doctor.json'), 'utf8')) as Array<{ name: string; ok: boolean }>;
  for (const check of ['FUSE engine', 'engine libfuse3', 'engine fuse-native', 'directory lister', 'kmx enc AES-GCM']) assert.equal(doctor.find((c) => c.name === check)?.ok, true, check);
  assert.deepEqual(await mountsUnder(dir), []);
}

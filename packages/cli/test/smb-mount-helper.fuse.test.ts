import assert from 'node:assert/strict';
import { chmod, chown, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { mountsUnder, run, temporaryDirectory, withTestUsers } from '@kmx/core/testing';
import { startSmbd } from '@kmx/plugin-nfs-mount/smbd';
import { kmxArguments, parseHelperArgs } from '../src/lib/mount-helper.js';

/** fstab's fuse.kmx-smb: mount.cifs's option names, the password only through credentials=. */

describe('mount(8) and fstab: kmx-smb', () => {
  it('maps mount.cifs\'s options to kmx smb mount\'s flags', () => {
    assert.deepEqual(kmxArguments('smb', parseHelperArgs(['//nas/photos', '/mnt/photos', '-o', 'credentials=/etc/nas.cred,vers=3.1.1,port=4445,username=al,domain=HOME,_netdev,ro'])),
      ['smb', 'mount', '--userspace', '--mountpoint', '/mnt/photos', '--credentials', '/etc/nas.cred', '--vers', '3.1.1', '--port', '4445', '--user', 'al', '--domain', 'HOME', '-o', 'ro', '//nas/photos', 'photos']);
  });

  it('mounts an fstab line of type fuse.kmx-smb with a credentials file, and unmounts it', () => withTestUsers(1, ([user]) => temporaryDirectory(async (dir) => {
    assert.ok(user);
    await chmod(dir, 0o711);
    const share = join(dir, 'share');
    await mkdir(share);
    await writeFile(join(share, 'f'), 'from smbd\n');
    await chown(share, user.uid, user.gid);
    await chown(join(share, 'f'), user.uid, user.gid);
    const smbd = await startSmbd({ dir: join(dir, 'smbd'), shareDir: share, user: user.name, password: 'fstab pw,1' });
    try {
      await writeFile(join(dir, 'cred'), `username=${user.name}\npassword=fstab pw,1\n`, { mode: 0o600 });
      const mnt = join(dir, `smb-${process.pid}`);
      await mkdir(mnt);
      await writeFile(join(dir, 'fstab'), `//127.0.0.1/share ${mnt} fuse.kmx-smb credentials=${dir}/cred,port=${smbd.port},vers=3.0,_netdev,nofail 0 0\n`);
      const sbin = join(dir, 'sbin');
      await mkdir(sbin);
      await mkdir(join(dir, 'work'));
      await symlink(fileURLToPath(new URL('../../bin/kmx-smb.js', import.meta.url)), join(sbin, 'mount.fuse.kmx-smb'));
      const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `
        mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=${sbin},workdir=${dir}/work /usr/sbin
        mount -T ${dir}/fstab -a
        grep ' ${mnt} ' /proc/self/mountinfo | awk '{ for (i = 7; i < NF; i++) if ($i == "-") print $(i + 1), $(i + 2) }'
        cat ${mnt}/f
        umount ${mnt}
        grep -c ' ${mnt} ' /proc/self/mountinfo || echo unmounted`], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.equal(r.stdout, 'fuse.kmx-smb //127.0.0.1/share\nfrom smbd\n0\nunmounted\n', r.stderr);
      assert.deepEqual(await mountsUnder(dir), []);
    } finally {
      await smbd.stop();
    }
  })));
});

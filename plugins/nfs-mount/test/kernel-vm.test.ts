import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runVm, withTestUsers, type VmRun } from '@kmx/core/testing';
import { withGanesha } from './harness.js';
import { prepareVmImage } from './vm/image.js';

/**
 * The kernel NFS path for real: this host's kernel has no NFS client, so a Debian kernel boots
 * under QEMU (TCG), runs this checkout's kmxd, and an ordinary user mounts the host's ganesha
 * through it at 4.2, 4.1 and 3 (kernel-vm note in shared/notes).
 */

interface Step { code: number | null; out: string }
interface VersionResult {
  mount: Step; io: Step; remount: Step; list: Step; umount: Step; linkTarget: string; linkOwner: number;
  mounted: { fstype: string; options: string; superOptions: string } | null;
  afterUnmount: { mounted: boolean; linkExists: boolean; dirExists: boolean };
}

const guest = fileURLToPath(new URL('./vm/guest.js', import.meta.url));

describe('kmxd kernel NFS mounts in a VM', () => {
  it('mounts vers=4.2, 4.1 and 3 for an ordinary user at /run/media/$USER/<name>, nosuid,nodev; data round-trips; umount --unlink', { timeout: 900_000 }, () => withTestUsers(1, ([user]) => withGanesha(async (g) => {
    assert.ok(user);
    chmodSync(g.exportDir, 0o1777);
    writeFileSync(join(g.exportDir, 'from-host.txt'), 'from-host\n');
    const image = prepareVmImage();
    const options = {
      image,
      env: { KMXVM_GUEST: guest, KMXVM_CHECKOUT: resolve(dirname(guest), '../../../../..'), KMXVM_USER: user.name, KMXVM_UID: String(user.uid), KMXVM_GID: String(user.gid) },
      forwards: [{ guestPort: 2049, hostPort: g.nfsPort }, { guestPort: 20048, hostPort: g.mountPort }],
      timeoutMs: 420_000,
    };
    // 44 of 45 boots worked when measured: a boot that never reached the guest program gets one
    // retry. A guest that started and printed no result crashed: that is a failure.
    let vm: VmRun = await runVm(options);
    if (!vm.output.includes('KMXVM-BOOTED')) vm = await runVm(options);
    const result = vm.result as Record<string, VersionResult | unknown> | undefined;
    assert.ok(result, `no result from the VM:\n${vm.output.slice(-3000)}`);
    for (const vers of ['4.2', '4.1', '3']) {
      const r = result[vers] as VersionResult;
      const tag = vers.replace('.', '');
      const path = `/run/media/${user.name}/v${tag}`;
      assert.equal(r.mount.code, 0, `mount ${vers}: ${r.mount.out}`);
      assert.match(r.mount.out, new RegExp(`mounted on ${path}`));
      assert.ok(r.mounted, `nothing mounted at ${path}`);
      assert.equal(r.mounted.fstype, vers === '3' ? 'nfs' : 'nfs4');
      for (const o of ['nosuid', 'nodev']) assert.ok(r.mounted.options.split(',').includes(o), `${vers}: ${r.mounted.options}`);
      const superOptions = r.mounted.superOptions.split(',');
      assert.ok(superOptions.includes(`vers=${vers}`), `${vers}: ${r.mounted.superOptions}`);
      assert.ok(superOptions.includes('addr=10.0.2.100'), r.mounted.superOptions);
      if (vers !== '3') assert.ok(superOptions.includes('clientaddr=10.0.2.15'), r.mounted.superOptions);
      else assert.ok(superOptions.includes('mountport=20048') && superOptions.includes('local_lock=all'), r.mounted.superOptions);
      assert.equal(r.io.code, 0, r.io.out);
      assert.match(r.remount.out, /rc=[1-9]/, `${vers}: remount,suid,dev in the user's own namespaces must fail: ${r.remount.out}`);
      assert.match(r.remount.out, /nosuid,nodev/, r.remount.out);
      assert.equal(r.io.out, `from-guest-${tag}\nfrom-host\n${user.uid}`);
      assert.equal(readFileSync(join(g.exportDir, `from-guest-${tag}.txt`), 'utf8'), `from-guest-${tag}\n`);
      assert.equal(statSync(join(g.exportDir, `from-guest-${tag}.txt`)).uid, user.uid);
      assert.equal(r.linkTarget, path);
      assert.equal(r.linkOwner, user.uid, 'the link is made as the user');
      assert.equal(r.list.code, 0, r.list.out);
      assert.ok((JSON.parse(r.list.out) as { mounts: Array<{ name: string }> }).mounts.some((m) => m.name === `v${tag}`));
      assert.equal(r.umount.code, 0, r.umount.out);
      assert.deepEqual(r.afterUnmount, { mounted: false, linkExists: false, dirExists: false });
    }
    const hostile = result.hostile as Step;
    assert.notEqual(hostile.code, 0);
    assert.match(hostile.out, /kmxd refused/);
    assert.equal(result.hostileMounted, false);
    const fromUserns = result.fromUserns as Step;
    assert.notEqual(fromUserns.code, 0, fromUserns.out);
    assert.match(fromUserns.out, /mount namespace belongs to a user namespace of its own/);
    assert.equal(result.fromUsernsMounted, false);
    assert.ok((result.log as string[]).some((l) => l.startsWith(`${user.name}(${user.uid}) pid `) && l.includes('| mounted nfs')), (result.log as string[]).join('\n'));
  })));
});

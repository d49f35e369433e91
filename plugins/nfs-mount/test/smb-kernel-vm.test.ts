import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { prepareVmImage, runVm, type VmRun } from '@kmx/core/testing';
import { withSmbd } from './smbd-peer.js';

/**
 * The kernel SMB path for real: this host's kernel has no CIFS client, so a Debian kernel boots
 * under QEMU (TCG), runs this checkout's kmxd, and an ordinary user mounts the host's smbd
 * through it (kernel-vm note in shared/notes).
 */

interface Step { code: number | null; out: string }
interface VersionResult {
  mount: Step; io: Step; links: Step; remount: Step; list: Step; umount: Step; linkTarget: string; linkOwner: number; passwordInMountinfo: boolean;
  mounted: { fstype: string; options: string; superOptions: string } | null;
  afterUnmount: { mounted: boolean; linkExists: boolean; dirExists: boolean };
}

const guest = fileURLToPath(new URL('./vm/smb-guest.js', import.meta.url));
/** The CIFS client, and the crypto SMB 3 signs with (cmac, sha512) that Debian builds as modules. */
const SMB_MODULES = ['cifs', 'cmac', 'sha512_generic', 'ecb', 'ctr', 'gcm', 'ghash-generic', 'ccm'];
/** Every printable ASCII character, "," "=" "\\" and quotes among them: nothing is escaped on the way. */
const PASSWORD = `p${Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join('')} x`;

describe('kmxd kernel SMB mounts in a VM', () => {
  it('mounts SMB 3.1.1 and 2.1 for an ordinary user at /run/media/$USER/<name>, nosuid,nodev, files mapped to the user; data round-trips; umount --unlink; the password in no argv, log or mountinfo', { timeout: 600_000 }, () => withSmbd(async (peer) => {
    const user = peer.user;
    chmodSync(peer.shareDir, 0o777);
    writeFileSync(join(peer.shareDir, 'from-host.txt'), 'from-host\n');
    const image = prepareVmImage({ modules: SMB_MODULES });
    const options = {
      image,
      env: {
        KMXVM_GUEST: guest, KMXVM_CHECKOUT: resolve(dirname(guest), '../../../../..'), KMXVM_USER: user.name, KMXVM_UID: String(user.uid), KMXVM_GID: String(user.gid),
        KMXVM_SMBPASS: Buffer.from(PASSWORD).toString('base64'),
      },
      forwards: [{ guestPort: 445, hostPort: peer.port }],
      timeoutMs: 300_000,
    };
    let vm: VmRun = await runVm(options);
    if (!vm.output.includes('KMXVM-BOOTED')) vm = await runVm(options);
    const result = vm.result as Record<string, VersionResult | unknown> | undefined;
    assert.ok(result, `no result from the VM:\n${vm.output.slice(-3000)}`);
    for (const vers of ['3.1.1', '2.1']) {
      const r = result[vers] as VersionResult;
      const tag = vers.replaceAll('.', '');
      const path = `/run/media/${user.name}/s${tag}`;
      assert.equal(r.mount.code, 0, `mount ${vers}: ${r.mount.out}\n${(result.log as string[]).join('\n')}`);
      assert.match(r.mount.out, new RegExp(`mounted on ${path}`));
      assert.ok(r.mounted, `nothing mounted at ${path}`);
      assert.equal(r.mounted.fstype, 'cifs');
      for (const o of ['nosuid', 'nodev']) assert.ok(r.mounted.options.split(',').includes(o), `${vers}: ${r.mounted.options}`);
      const superOptions = r.mounted.superOptions.split(',');
      for (const o of [`vers=${vers}`, 'addr=10.0.2.100', `uid=${user.uid}`, 'forceuid', `gid=${user.gid}`, 'forcegid', 'file_mode=0644', 'dir_mode=0755', `username=${user.name}`]) {
        assert.ok(superOptions.includes(o), `${vers}: ${o} not in ${r.mounted.superOptions}`);
      }
      assert.equal(r.passwordInMountinfo, false);
      assert.equal(r.io.code, 0, r.io.out);
      assert.equal(r.io.out, `from-guest-${tag}\nfrom-host\n${user.uid} ${user.gid} 644\n${user.uid} 755`);
      assert.equal(readFileSync(join(peer.shareDir, `from-guest-${tag}.txt`), 'utf8'), `from-guest-${tag}\n`);
      assert.equal(statSync(join(peer.shareDir, `from-guest-${tag}.txt`)).uid, user.uid, 'smbd writes as the share\'s account');
      // Hard links through SMB2; symbolic links only with -o mfsymlinks (kept as files on the server).
      if (vers === '3.1.1') {
        assert.equal(r.links.out, '2\nrc=0\nfrom-host.txt\nfrom-host', r.links.out);
        assert.equal(statSync(join(peer.shareDir, `hard-${tag}`)).ino, statSync(join(peer.shareDir, `from-guest-${tag}.txt`)).ino);
      } else {
        assert.match(r.links.out, /^2\nrc=[1-9]/, r.links.out);
      }
      assert.match(r.remount.out, /rc=[1-9]/, `${vers}: remount,suid,dev in the user's own namespaces must fail: ${r.remount.out}`);
      assert.equal(r.linkTarget, path);
      assert.equal(r.linkOwner, user.uid, 'the link is made as the user');
      assert.equal(r.list.code, 0, r.list.out);
      assert.ok((JSON.parse(r.list.out) as { mounts: Array<{ name: string; mode: string }> }).mounts.some((m) => m.name === `s${tag}` && m.mode === 'kernel'), r.list.out);
      assert.equal(r.umount.code, 0, r.umount.out);
      assert.deepEqual(r.afterUnmount, { mounted: false, linkExists: false, dirExists: false });
    }
    const wrong = result.wrong as Step;
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.out, /^kmx: kmxd refused: .*(permission denied|EACCES)/m, wrong.out);
    assert.equal(result.wrongMounted, false);
    const hostile = result.hostile as Step;
    assert.match(hostile.out, /kmxd refused: options: .*option "uid" is not allowed/, hostile.out);
    assert.equal(result.seenInArgs, false, 'the password was in a process\'s arguments');
    assert.equal(result.passwordInLog, false, 'the password was in kmxd\'s log');
  }, { password: PASSWORD }));
});

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run, runKmx, sameAsPlain, sh, temporaryDirectory, type TestMount } from '@kmx/core/testing';
import { gocryptfsFsck, mustKmxInit, withEnc, withKmxMount } from './helpers.js';

/**
 * The plaintext view behaves like a plain directory: each script runs once in the mount and
 * once in a plain directory, and everything it prints (data, errors, modes, sizes, links,
 * times set explicitly) must match. Afterwards gocryptfs -fsck must find the CIPHERDIR clean.
 */

function forward(body: (m: TestMount, ref: string, cipher: string) => Promise<void>): Promise<void> {
  return withEnc({
    prepare: async ({ dir }) => {
      await mkdir(join(dir, 'cipher'));
      await mkdir(join(dir, 'ref'));
      await mustKmxInit([join(dir, 'cipher')]);
    },
    args: ({ dir, mnt }) => [join(dir, 'cipher'), mnt],
  }, async (m) => {
    await body(m, join(m.dir, 'ref'), join(m.dir, 'cipher'));
    const fsck = await gocryptfsFsck(join(m.dir, 'cipher'));
    assert.equal(fsck.code, 0, `gocryptfs -fsck: ${fsck.stdout}${fsck.stderr}`);
  });
}

/** A kmx enc mount whose cipher directory is a 3 MiB tmpfs, to fill. */
async function onSmallDisk(body: (paths: { dir: string; mnt: string }) => Promise<void>): Promise<void> {
  await temporaryDirectory(async (dir) => {
    const [cipher, mnt] = [join(dir, 'cipher'), join(dir, 'mnt')];
    await mkdir(cipher);
    await mkdir(mnt);
    const tmpfs = await run('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'kmxtest', cipher]);
    assert.equal(tmpfs.code, 0, tmpfs.stderr);
    try {
      await mustKmxInit([cipher]);
      await withKmxMount([cipher], mnt, () => body({ dir, mnt }));
    } finally {
      await run('umount', ['-l', cipher]);
    }
  });
}

describe('kmx enc mount: the plaintext view', () => {
  it('reads and writes at any offset: partial blocks, holes, appends, truncation both ways', () => forward(async ({ mnt, dir }, ref) => {
    // The same random bytes on both sides, written in odd-sized pieces at odd offsets.
    const made = await sh(`head -c 1000000 /dev/urandom > '${dir}/data'`);
    assert.equal(made.code, 0);
    await sameAsPlain(mnt, ref, `
      dd if='${dir}/data' of=big bs=999 status=none; sha256sum < big
      dd if='${dir}/data' of=big bs=777 skip=3 seek=5 count=400 conv=notrunc status=none; sha256sum < big
      dd if=big bs=4097 skip=7 count=3 status=none | sha256sum; dd if=big bs=1 skip=4095 count=3 status=none | od -An -tx1
      printf 'hello' > f; printf 'XY' | dd of=f bs=1 seek=3 conv=notrunc status=none; cat f; echo
      printf 'end' | dd of=f bs=1 seek=10000 conv=notrunc status=none; od -c f | tail -3; stat -c %s f
      truncate -s 4 f; cat f; echo; truncate -s 100000 f; stat -c %s f; sha256sum < f
      truncate -s 8192 f; truncate -s 8193 f; truncate -s 4095 f; sha256sum < f; stat -c %s f
      : > empty; stat -c '%s %F' empty; echo again > empty; cat empty; : > empty; cat empty; printf x >> empty; cat empty; echo
      echo line1 > app; echo line2 >> app; (echo a; sleep 0.1; echo b) >> app; cat app
      head -c 5000 '${dir}/data' > w; dd if='${dir}/data' of=w bs=100 count=1 seek=60 status=none; sha256sum < w; stat -c %s w`);
  }));

  it('keeps sparse files sparse on disk and reads their holes as zeros', () => forward(async ({ mnt }, _ref, cipher) => {
    const r = await sh(`truncate -s 10000000 '${mnt}/sparse' && printf x | dd of='${mnt}/sparse' bs=1 seek=5000000 conv=notrunc status=none &&
      cmp -n 5000000 '${mnt}/sparse' /dev/zero && stat -c %s '${mnt}/sparse' && du -k "$(find '${cipher}' -type f -size +1000k)" | cut -f1`);
    assert.equal(r.code, 0, r.stderr);
    const [size, kib] = r.stdout.trim().split('\n');
    assert.equal(size, '10000000');
    assert.ok(Number(kib) < 100, `the encrypted file uses ${kib} KiB on disk`);
  }));

  it('makes, lists, renames (over empty directories too) and removes directories and long names with the same errors', () => forward(async ({ mnt }, ref) => {
    const out = await sameAsPlain(mnt, ref, `
      umask 022; mkdir d; mkdir -m 0700 p; mkdir -m 0500 ro; stat -c '%A %h %n' d p ro
      mkdir d; rmdir nothere; mkdir ro/x
      touch d/a d/b; ls -a d; rmdir d
      mkdir e; mv d/a e/; ls d e; mv e d; ls d; ls -a d
      touch f1 f2; mv f1 f2; ls f1 f2
      mkdir x y; touch y/z; mv x y; mv y x; ls x; rm -r x y
      L=$(printf 'L%.0s' $(seq 1 230)); M=$(printf 'M%.0s' $(seq 1 240)); mkdir "$L"; echo in > "$L/f"; mv "$L" "$M"; cat "$M/f"; ls | wc -l
      mv "$M/f" "$L"; cat "$L"; ln "$L" "$L.2"; stat -c %h "$L"; rm "$L"; cat "$L.2"; rmdir "$M"; ls
      touch "$(printf 'T%.0s' $(seq 1 256))"
      mkdir s t; echo in > s/f; mv -T s t; ls t; ls s
      mkdir "$L" u; echo l > u/g; mv -T u "$L"; cat "$L/g"; rm -r "$L"
      mkdir v w; touch w/full; mv -T v w; rm -r v w t
      rmdir ro; ls`);
    assert.match(out, /File exists/);
    assert.match(out, /Directory not empty/);
    assert.match(out, /File name too long/);
  }));

  it('keeps symlinks, hard links, fifos, modes, owners and times', () => forward(async ({ mnt }, ref) => {
    await sameAsPlain(mnt, ref, `
      echo data > f; ln f g; ln -s f s; ln -s ../../nowhere dangling; ln -s "$(printf 'x%.0s' $(seq 1 2000))" long
      stat -c '%h %F %s' f g s long; [ "$(stat -c %i f)" = "$(stat -c %i g)" ] && echo same-inode
      readlink s dangling; readlink long | wc -c; cat s; cat dangling
      echo more >> g; cat f; rm f; stat -c '%h' g
      mkfifo -m 0640 fifo; stat -c '%A %F' fifo
      umask 077; touch m; stat -c '%a' m; chmod 4751 m; stat -c '%a' m; chmod 0 m; stat -c '%a' m
      chown 1234:5678 m; stat -c '%u:%g' m; chown :42 m; stat -c '%u:%g' m
      touch -m -d '2001-02-03 04:05:06.123456789' m; stat -c '%y' m
      touch -a -d '2002-03-04 05:06:07.5' m; stat -c '%x|%y' m
      touch -h -d '2003-01-01' s; stat -c '%y' s; touch -d '1969-12-31 23:59:59' old; stat -c '%Y' old`);
  }));

  it('stores extended attributes encrypted and reports statfs', () => forward(async ({ mnt }, ref, cipher) => {
    await sameAsPlain(mnt, ref, `
      touch f; setfattr -n user.color -v blue f; setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\\0' x)" f; setfattr -n user.empty -v '' f
      getfattr -d --absolute-names f | sort; getfattr -n user.big --only-values f | wc -c
      setfattr -x user.color f; getfattr -n user.color f; getfattr -d f; setfattr -x user.none f`);
    const raw = await sh(`getfattr -d -m - "$(find '${cipher}' -type f ! -name 'gocryptfs*' | head -1)" | grep -c '^user\\.gocryptfs\\.'`);
    assert.equal(raw.stdout.trim(), '2', 'names and values are stored encrypted');
    const df = await sh(`stat -f -c '%S %l' '${mnt}'; stat -f -c '%S' '${cipher}'`);
    const [viaMount, direct] = df.stdout.trim().split('\n');
    assert.equal(viaMount, `${direct} 255`);
  }));

  it('reports a write that fails after it was accepted (a full disk) at fsync or close, and loses nothing written before', () => onSmallDisk(async ({ dir, mnt }) => {
    const r = await sh(`head -c 1048576 /dev/urandom > '${dir}/one' && cp '${dir}/one' '${mnt}/kept' && sync '${mnt}/kept' &&
      dd if=/dev/zero of='${mnt}/big' bs=1M count=8 conv=fsync status=none; echo "dd=$?"; cmp '${dir}/one' '${mnt}/kept' && echo kept-intact`);
    assert.match(r.stdout, /^dd=[1-9]/m, `dd must fail: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /No space left on device/);
    assert.match(r.stdout, /^kept-intact$/m);
  }));

  // A write behind that fills the disk leaves its last block torn on the backing file; later
  // writes must get ENOSPC again (as the full disk gives), not EIO from reading that block.
  it('keeps answering ENOSPC, not EIO, to writes after the disk filled', () => onSmallDisk(async ({ mnt }) => {
    const script = [
      'import errno, os',
      `f = os.open("${mnt}/big", os.O_WRONLY | os.O_CREAT, 0o600)`,
      'seen = []',
      'for i in range(12):',
      '    try:',
      '        os.write(f, b"\\0" * 1048576)',
      '    except OSError as e:',
      '        seen.append(errno.errorcode[e.errno])',
      'print(" ".join(seen))',
    ].join('\n');
    const r = await sh(`python3 -c '${script}'`);
    assert.equal(r.code, 0, r.stderr);
    // Cutting a torn block off frees a little room, so some later writes may succeed.
    assert.deepEqual([...new Set(r.stdout.trim().split(' '))], ['ENOSPC'], r.stdout);
    const read = await sh(`cat '${mnt}/big' > /dev/null`);
    assert.equal(read.code, 0, `what the file holds reads back without EIO: ${read.stderr}`);
  }));

  it('serves concurrent readers and writers, fsync, and files unlinked while open', () => forward(async ({ mnt, dir }, ref) => {
    const r = await sh(`head -c 8388608 /dev/urandom > '${dir}/r' && cp '${dir}/r' '${mnt}/r' && sync '${mnt}/r' &&
      for i in 1 2 3 4; do sha256sum < '${mnt}/r' & done; wait; sha256sum < '${dir}/r'
      for i in 1 2 3 4; do dd if='${dir}/r' of='${mnt}/w' bs=65536 skip=$((i*8)) seek=$((i*8)) count=8 conv=notrunc,fsync status=none & done; wait
      for i in 1 2 3 4; do dd if='${dir}/r' of='${dir}/w' bs=65536 skip=$((i*8)) seek=$((i*8)) count=8 conv=notrunc status=none; done
      cmp '${mnt}/w' '${dir}/w' && echo concurrent-writes-ok; rm '${mnt}/r' '${mnt}/w'`);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(new Set(lines.slice(0, 5)).size, 1, r.stdout);
    assert.equal(lines[5], 'concurrent-writes-ok');
    await sameAsPlain(mnt, ref, `
      echo keep > open; exec 3< open; rm open; cat <&3; exec 3<&-
      echo x > rw; exec 4<> rw; rm rw; echo written >&4; exec 4<&-; ls`);
  }));
  it("without the native AES-GCM helper: Node's crypto, one warning line, the same format", async () => {
    const env = { KMX_ENC_GCM_LIBRARY: '/nonexistent/libkmx-enc-gcm.so' };
    const doctor = await runKmx(['doctor'], { env: { ...process.env, ...env } });
    assert.match(doctor.stdout, /^missing +kmx enc AES-GCM +falls back to Node's crypto.*nonexistent.*; fix: \S/m, doctor.stdout);
    await withEnc({
      env,
      prepare: async ({ dir }) => {
        await mkdir(join(dir, 'cipher'));
        await mkdir(join(dir, 'native'));
        await mustKmxInit([join(dir, 'cipher')]);
      },
      args: ({ dir, mnt }) => [join(dir, 'cipher'), mnt],
    }, async (m) => {
      const { dir, mnt } = m;
      // Written on Node's crypto in pieces that straddle blocks; read back natively, and checked by gocryptfs -fsck.
      const written = await sh(`head -c 300000 /dev/urandom > '${dir}/data' && dd if='${dir}/data' of='${mnt}/f' bs=7000 conv=fsync status=none && cmp '${dir}/data' '${mnt}/f' && echo same`);
      assert.match(written.stdout, /^same$/m, written.stderr);
      const warnings = m.output().split('\n').filter((l) => l.includes('warning'));
      assert.equal(warnings.length, 1, m.output());
      assert.match(warnings[0]!, /^kmx enc: warning: AES-GCM content runs on Node's crypto, several times slower: .*nonexistent.*\(see kmx doctor\)$/);
      await withKmxMount([join(dir, 'cipher')], join(dir, 'native'), async () => {
        assert.equal((await sh(`cmp '${dir}/data' '${dir}/native/f' && echo same`)).stdout.trim(), 'same');
      });
      const fsck = await gocryptfsFsck(join(dir, 'cipher'));
      assert.equal(fsck.code, 0, `gocryptfs -fsck: ${fsck.stdout}${fsck.stderr}`);
    });
  });
});

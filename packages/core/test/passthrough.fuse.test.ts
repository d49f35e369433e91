import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sameAsPlain, sh, withTestMount, type TestMount } from '@kmx/core/testing';

/**
 * kmx passthrough against the directory it mirrors: each script runs once in the mount and
 * once in a plain directory, and everything it prints (errno messages, modes, owners, sizes,
 * link counts, times set explicitly) must be the same.
 */

function passthrough(body: (m: TestMount, paths: { src: string; ref: string }) => Promise<void>, options: string[] = []): Promise<void> {
  return withTestMount({
    prepare: async ({ dir }) => {
      await mkdir(join(dir, 'src'));
      await mkdir(join(dir, 'ref'));
    },
    args: ({ dir, mnt }) => ['passthrough', ...options, join(dir, 'src'), mnt],
  }, (m) => body(m, { src: join(m.dir, 'src'), ref: join(m.dir, 'ref') }));
}

describe('kmx passthrough', () => {
  it('reads and writes files like the backing directory', () => passthrough(async ({ mnt }, { src, ref }) => {
    await sameAsPlain(mnt, ref, `
      printf 'hello' > f; printf 'XY' | dd of=f bs=1 seek=3 conv=notrunc status=none; cat f; echo
      printf 'end' | dd of=f bs=1 seek=10 conv=notrunc status=none; od -c f | head -3
      truncate -s 4 f; cat f; echo; truncate -s 100000 f; stat -c '%s %b' f | cut -d' ' -f1
      : > empty; stat -c '%s %F' empty
      echo append >> f; tail -c 7 f
      cat missing; mkdir f/x; ls nothere`);
    // 8 MiB of random data, written with fsync through the mount, identical on both sides.
    const r = await sh(`head -c 8388608 /dev/urandom > '${src}/../rand' && dd if='${src}/../rand' of='${mnt}/big' bs=1M conv=fsync status=none &&
      sha256sum < '${src}/../rand' && sha256sum < '${mnt}/big' && sha256sum < '${src}/big'`);
    assert.equal(r.code, 0, r.stderr);
    const sums = r.stdout.trim().split('\n');
    assert.equal(new Set(sums).size, 1, `checksums differ: ${sums.join(', ')}`);
  }));

  it('makes, lists, renames and removes directories with the same errors', () => passthrough(async ({ mnt }, { ref }) => {
    const out = await sameAsPlain(mnt, ref, `
      umask 022; mkdir d; mkdir -m 0700 p; mkdir -m 1777 t; stat -c '%A %h %n' d p t
      mkdir d; rmdir nothere
      touch d/a d/b; ls -a d; rmdir d
      mkdir e; mv d/a e/; ls d e; mv e d; ls d; ls -a d
      touch f1 f2; mv f1 f2; ls f1 f2
      mkdir x y; touch y/z; mv x y; mv y x; ls x; rmdir x; rm -r x y
      mkdir full; touch full/z; mkdir empty2; mv empty2 full; mv full empty2 2>&1; ls -R .`);
    assert.match(out, /File exists/);
    assert.match(out, /Directory not empty/);
  }));

  it('keeps hard links, symlinks and special files', () => passthrough(async ({ mnt }, { ref }) => {
    await sameAsPlain(mnt, ref, `
      echo data > f; ln f g; ln -s f s; ln -s ../../nowhere dangling; ln -s "$(printf 'x%.0s' $(seq 1 1000))" long
      stat -c '%h %F %s' f g; [ "$(stat -c %i f)" = "$(stat -c %i g)" ] && echo same-inode
      readlink s dangling; readlink long | wc -c; cat s; cat dangling
      echo more >> g; cat f; rm f; stat -c '%h' g
      mkfifo -m 0640 fifo; stat -c '%A %F' fifo
      python3 -c 'import socket,os; s=socket.socket(socket.AF_UNIX); s.bind("sock")'; stat -c '%F' sock
      mknod -m 0600 nul c 1 3; stat -c '%A %F %t:%T' nul
      ln g g; ln nothere x`);
  }));

  it('changes modes, owners and times exactly as asked', () => passthrough(async ({ mnt }, { ref }) => {
    await sameAsPlain(mnt, ref, `
      umask 077; touch f; stat -c '%a' f; chmod 4751 f; stat -c '%a' f; chmod 0 f; stat -c '%a' f
      chown 1234:5678 f; stat -c '%u:%g' f; chown :42 f; stat -c '%u:%g' f
      touch -m -d '2001-02-03 04:05:06.123456789' f; stat -c '%y' f
      touch -a -d '2002-03-04 05:06:07.5' f; stat -c '%x|%y' f
      touch -d '1969-12-31 23:59:59' old; stat -c '%Y' old
      ln -s f link; touch -h -d '2003-01-01' link; stat -c '%y' link; stat -c '%y' f`);
  }));

  it('keeps mtimes through tar x and cp -p', () => passthrough(async ({ mnt, dir }, { ref }) => {
    const tree = join(dir, 'tree');
    const made = await sh(`mkdir -p '${tree}/a/b' && echo 1 > '${tree}/a/f' && echo 2 > '${tree}/a/b/g' && ln -s f '${tree}/a/l' &&
      touch -h -d '2010-05-06 07:08:09.987654321' '${tree}/a/f' '${tree}/a/b/g' '${tree}/a/l' '${tree}/a/b' '${tree}/a' &&
      tar -C '${tree}' -cf '${dir}/tree.tar' a`);
    assert.equal(made.code, 0, made.stderr);
    await sameAsPlain(mnt, ref, `
      tar -xf '${dir}/tree.tar'; find a | sort | xargs stat -c '%n %y'
      cp -pr a b; find b | sort | xargs stat -c '%n %Y %a'`);
  }));

  it('reports the backing statfs and passes extended attributes', () => passthrough(async ({ mnt }, { src, ref }) => {
    const df = await sh(`stat -f -c '%b %S %c' '${mnt}' '${src}'`);
    const [viaMount, direct] = df.stdout.trim().split('\n');
    assert.equal(viaMount?.split(' ')[1], direct?.split(' ')[1], 'block size');
    assert.equal(viaMount?.split(' ')[0], direct?.split(' ')[0], 'total blocks');
    await sameAsPlain(mnt, ref, `
      touch f; setfattr -n user.color -v blue f; setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\\0' x)" f
      getfattr -d --absolute-names f | sort; getfattr -n user.big --only-values f | wc -c
      setfattr -x user.color f; getfattr -n user.color f; getfattr -d f
      setfattr -x user.none f`);
  }));

  it('reports a full disk at the write that meets it, as the backing filesystem does', () => withTestMount({
    // Backing and reference directories on tmpfs of 1 MiB each (removed with the test directory).
    prepare: async ({ dir }) => {
      for (const side of ['src', 'ref']) {
        await mkdir(join(dir, side));
        assert.equal((await sh(`mount -t tmpfs -o size=1m,mode=0755 kmx-test-full '${join(dir, side)}'`)).code, 0);
      }
    },
    args: ({ dir, mnt }) => ['passthrough', join(dir, 'src'), mnt],
  }, async ({ mnt, dir }) => {
    // The write that reaches the end writes what fits and says so (a short write); the next fails.
    const write = `'${process.execPath}' -e "const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'a');
      for (let i = 0; i < 2; i++) try { console.log('wrote', fs.writeSync(fd, Buffer.alloc(300000))); } catch (e) { console.log(e.code); }"`;
    const out = await sameAsPlain(mnt, join(dir, 'ref'), `
      dd if=/dev/zero of=f bs=100k count=8 status=none; ${write} f; stat -c %s f
      dd if=/dev/zero of=f bs=100k count=20 conv=notrunc status=none; echo "dd=$?"
      printf x >> f; echo "append=$?"; rm f
      dd if=/dev/zero of=g bs=100k count=5 status=none; echo "after=$?"; stat -c %s g`);
    assert.match(out, /wrote \d+\nENOSPC\n1048576\n/);
    assert.match(out, /No space left on device/);
    assert.match(out, /after=0\n512000/);
  }));

  it('fsyncs, and serves concurrent readers', () => passthrough(async ({ mnt, dir }) => {
    const r = await sh(`head -c 4194304 /dev/urandom > '${dir}/r' && cp '${dir}/r' '${mnt}/r' && sync '${mnt}/r' &&
      for i in 1 2 3 4; do sha256sum < '${mnt}/r' & done; wait; sha256sum < '${dir}/r'`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(new Set(r.stdout.trim().split('\n')).size, 1);
  }));
});

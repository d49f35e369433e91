import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { USER, same, withPosixMount } from './posix-compare.js';

/**
 * kmx passthrough against a plain directory: O_DIRECT I/O, and the checks it makes itself when
 * the kernel leaves them to it (no default_permissions).
 */

const PY = '/usr/bin/python3';

/** Random O_DIRECT reads and writes through two descriptors (aligned, as the backing ext4 wants), then a digest. */
const directFsx = (seed: number): string => `${PY} - <<'EOF'
import hashlib, mmap, os, random
random.seed(${seed})
size = 1 << 20
a = os.open('direct', os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
b = os.open('direct', os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 65536)
for i in range(300):
    fd = random.choice((a, b))
    n = random.choice((512, 4096, 8192, 65536))
    off = random.randrange(0, size // 512) * 512
    if random.random() < 0.6:
        buf.seek(0); buf.write(random.randbytes(n)); buf.seek(0)
        os.pwritev(fd, [memoryview(buf)[:n]], off)
    else:
        got = os.preadv(fd, [memoryview(buf)[:n]], off)
        print('read', off, got, hashlib.sha256(memoryview(buf)[:got]).hexdigest()[:12])
os.close(a); os.close(b)
print(os.stat('direct').st_size, hashlib.sha256(open('direct', 'rb').read()).hexdigest())
EOF`;

const engine = process.env.KMX_FUSE_ENGINE ?? 'libfuse3';

describe('kmx passthrough: O_DIRECT, its own permission checks, hard links under an attribute cache', () => {
  // Each name of a file is its own kernel inode (nodes go by path): the libfuse3 engine tells
  // the kernel to forget the others' attributes when one changes; libfuse 2 has no way to.
  it('with attr_timeout=30,entry_timeout=30, what a link, an unlink or a chmod through one name changes shows through the others at once', { skip: engine === 'fuse-native' && 'libfuse 2 cannot invalidate a cached inode' }, () => withPosixMount(async (m) => {
    await same(m, 'root', `
      echo data > a; stat -c '%h %a' a; ln a b; stat -c '%h' a b; ln b c; stat -c '%h' a
      chmod 600 b; stat -c '%a' a c; rm c; stat -c '%h' a b; mv b a; stat -c '%h' a`);
  }, ['attr_timeout=30', 'entry_timeout=30']));

  it('reads and writes with O_DIRECT as the backing filesystem does (dd, and random direct I/O through two descriptors)', () => withPosixMount(async (m) => {
    await same(m, 'root', `
      dd if=/dev/urandom of=seed bs=4096 count=64 status=none
      dd if=seed of=copy bs=4096 oflag=direct status=none; echo "dd out=$?"
      dd if=copy of=back bs=4096 iflag=direct status=none; echo "dd in=$?"
      cmp seed back && echo same
      dd if=seed of=copy2 bs=1M iflag=direct oflag=direct status=none; cmp seed copy2 && echo same2`);
    for (const seed of [1, 2, 3]) await same(m, 'root', directFsx(seed));
  }));

  it('without default_permissions, a directory the caller may not read cannot be listed, and access(2) answers for the caller', () => withPosixMount(async (m) => {
    await same(m, 'root', `mkdir -m 0700 private; touch private/f; mkdir -m 0711 through; mkdir -m 0755 through/inner; mkdir -m 0733 dropbox
      touch ro rw; chmod 644 ro; chmod 666 rw`);
    await same(m, 'user', `
      ls private; echo "ls=$?"; ls through; echo "ls through=$?"; ls through/inner; echo "inner=$?"
      ls dropbox; echo "dropbox=$?"; find . -name f 2>&1 | sort; cat private/f; echo "cat=$?"
      for f in ro rw private dropbox; do test -r $f && echo "$f r"; test -w $f && echo "$f w"; test -x $f && echo "$f x"; done
      ${PY} -c 'import os; print([os.access(p, m) for p in ("ro", "rw", "private") for m in (os.R_OK, os.W_OK, os.X_OK)])'`);
    assert.equal(USER, 4242);
  }, [], true));
});

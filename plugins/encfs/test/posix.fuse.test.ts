import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sameAsPlain, scriptOutput, sh } from '@kmx/core/testing';
import { gocryptfsFsck, gocryptfsInit, mustKmxInit, withEnc, withGocryptfs } from './helpers.js';

/**
 * The plaintext view as POSIX as the format allows, compared with a plain directory (and with
 * gocryptfs where the format decides): paths whose encrypted form is longer than PATH_MAX, the
 * checks the server makes itself when the kernel leaves them to it (no default_permissions),
 * and fallocate. The CIPHERDIR mostly lies below a directory only root may enter, like a
 * private home: a caller's rights count from the CIPHERDIR down, as in the view.
 */

const PY = '/usr/bin/python3';
/** The other user: no such account needs to exist. */
const USER = 4242;

interface View {
  dir: string;
  mnt: string;
  /** The plain directory the scripts also run in. */
  ref: string;
  cipher: string;
}

/**
 * kmx enc mount -o allow_other (and default_permissions if asked) of DIR/home/cipher, where home
 * is private (0700) unless `publicHome`; both roots world-writable and sticky, like /tmp.
 */
function withView(defaultPermissions: boolean, body: (v: View) => Promise<void>, publicHome = false): Promise<void> {
  return withEnc({
    prepare: async ({ dir }) => {
      await chmod(dir, 0o755); // temporary directories are private: let the other user reach the mount
      await mkdir(join(dir, 'home'), { mode: publicHome ? 0o755 : 0o700 });
      await mkdir(join(dir, 'home', 'cipher'));
      await mustKmxInit([join(dir, 'home', 'cipher')]);
      await mkdir(join(dir, 'ref'));
      for (const d of ['home/cipher', 'ref']) await chmod(join(dir, d), 0o1777);
    },
    args: ({ dir, mnt }) => ['-o', defaultPermissions ? 'allow_other,default_permissions' : 'allow_other', join(dir, 'home', 'cipher'), mnt],
  }, async (m) => {
    const cipher = join(m.dir, 'home', 'cipher');
    await body({ dir: m.dir, mnt: m.mnt, ref: join(m.dir, 'ref'), cipher });
    const fsck = await gocryptfsFsck(cipher);
    assert.equal(fsck.code, 0, `gocryptfs -fsck: ${fsck.stdout}${fsck.stderr}`);
  });
}

function same(v: View, who: 'root' | 'user', script: string): Promise<string> {
  return sameAsPlain(v.mnt, v.ref, script, who === 'user' ? { user: USER } : {});
}

/**
 * 30 levels of 127-byte names: 3,840 bytes in plaintext, 5,160 encrypted (each name 171
 * characters), far past PATH_MAX below the CIPHERDIR. Every kind of call at the bottom: files,
 * links, a FIFO, directories (their diriv), long names (their .name files), renames (over an
 * empty directory too), attributes, truncate, modes, times, statfs, removal.
 */
const DEEP = `
  seg=$(printf 'a%.0s' $(seq 1 127)); p=.; for i in $(seq 1 30); do p="$p/$seg"; done
  long=$(printf 'L%.0s' $(seq 1 200))
  mkdir -p "$p" && echo deep-mkdir; printf '%s' "$p" | wc -c
  echo deep > "$p/f" && cat "$p/f"; stat -c '%s %h %F %a' "$p/f"
  ln "$p/f" "$p/g"; ln -s f "$p/s"; readlink "$p/s"; cat "$p/s"; mkfifo -m 0640 "$p/fifo"; stat -c '%h %F %a' "$p/g" "$p/fifo"
  mkdir "$p/d" "$p/e"; mv "$p/g" "$p/d/g"; ls "$p" "$p/d" | sed "s/$seg/SEG/g"; mv -T "$p/d" "$p/e"; ls "$p/e"; ls -d "$p/d"
  setfattr -n user.k -v val "$p/f"; getfattr -n user.k --only-values "$p/f"; echo; getfattr -d "$p/f" | tail -2; setfattr -x user.k "$p/f"; getfattr -d "$p/f"
  echo longname > "$p/$long"; cat "$p/$long"; mv "$p/$long" "$p/e/$long"; cat "$p/e/$long"; ls "$p/e" | wc -l
  mkdir "$p/$long.d"; echo in > "$p/$long.d/x"; cat "$p/$long.d/x"; mv "$p/$long.d" "$p/e/"; ls "$p/e" | wc -l; ln -s "$long" "$p/e/toLong"; cat "$p/e/toLong"
  truncate -s 10000 "$p/f"; stat -c %s "$p/f"; truncate -s 2 "$p/f"; cat "$p/f"; echo; chmod 600 "$p/f"; stat -c %a "$p/f"
  touch -d '2001-02-03 04:05:06' "$p/f"; stat -c %Y "$p/f"; stat -f -c %l "$p"; test -w "$p/f" && echo writable
  (cd "$p" && ${PY} -c '
import os
seg = "s" * 249
for _ in range(3):
    os.mkdir(seg); os.chdir(seg)
open("f", "w").write("deeper"); os.link("f", "g"); os.symlink("f", "s"); os.mkdir("d", 0o750)
print(open("g").read(), os.readlink("s"), sorted(os.listdir(".")), oct(os.stat("d").st_mode))
os.rename("g", "d/g"); os.utime("d/g", ns=(5, 6)); print(os.stat("f").st_mtime_ns, os.stat("f").st_nlink, os.statvfs(".").f_namemax)
for name in ["d/g", "f", "s"]:
    os.unlink(name)
os.rmdir("d")
for _ in range(3):
    os.chdir(".."); os.rmdir(seg)
print("deeper-removed")')
  rm "$p/f" "$p/s" "$p/fifo" "$p/e/g"; rm -r "$p/e"; ls -a "$p"; rm -r ./a*; ls`;

/** What is open(2) to someone who is not the owner, and what does it leave (sizes), without the kernel's checks. */
const OPENS = `${PY} - <<'EOF'
import os
def attempt(what, call):
    try:
        result = call(); print(what, "ok" if result is None else result)
    except OSError as e:
        print(what, e.strerror)
def opened(name, flags):
    fd = os.open(name, flags, 0o644); os.close(fd)
F = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR, "rt": os.O_RDONLY | os.O_TRUNC, "wt": os.O_WRONLY | os.O_TRUNC,
     "rwt": os.O_RDWR | os.O_TRUNC, "wc": os.O_WRONLY | os.O_CREAT, "wa": os.O_WRONLY | os.O_APPEND}
for name in ["ro", "secret", "wo", "through/f", "private/f", "own", "new", "dropbox/new", "private/new"]:
    for mode in ["r", "w", "rw", "rt", "wt", "rwt", "wa", "wc"]:
        attempt(f"open {name} {mode}", lambda: opened(name, F[mode]))
        attempt(f"  size {name}", lambda: os.stat(name).st_size)
    attempt(f"access {name}", lambda: [os.access(name, m) for m in (os.F_OK, os.R_OK, os.W_OK, os.X_OK)])
    attempt(f"xattr {name}", lambda: os.getxattr(name, "user.k"))
    attempt(f"list xattrs {name}", lambda: os.listxattr(name))
for name in ["private", "through", "dropbox", "."]:
    attempt(f"list {name}", lambda: sorted(os.listdir(name)))
attempt("readlink private/s", lambda: os.readlink("private/s"))
EOF`;

describe('kmx enc: POSIX behaviour of the plaintext view', () => {
  for (const defaultPermissions of [false, true]) {
    const options = defaultPermissions ? 'with default_permissions' : 'without default_permissions';

    it(`works at any depth: plaintext paths whose encrypted form passes PATH_MAX (${options})`, () => withView(defaultPermissions, async (v) => {
      const out = await same(v, 'root', DEEP);
      assert.match(out, /^deep-mkdir$/m);
      assert.match(out, /^3841$/m);
      assert.match(out, /^deeper-removed$/m);
      await same(v, 'user', DEEP);
    }));

    // Without default_permissions with the CIPHERDIR where anyone may search (the checks alone); with it, in a private home.
    it(`checks opens, access, attributes and listings as the caller (${options}${defaultPermissions ? ', CIPHERDIR in a private home' : ''})`, () => withView(defaultPermissions, async (v) => {
      await same(v, 'root', `
        echo data > ro; chmod 644 ro; echo data > secret; chmod 600 secret; echo data > wo; chmod 622 wo
        for f in ro secret wo; do setfattr -n user.k -v v $f; done
        mkdir -m 0700 private; echo hidden > private/f; ln -s f private/s; mkdir -m 0711 through; echo through > through/f; chmod 644 through/f
        mkdir -m 0733 dropbox; echo own > own; chown ${USER}:${USER} own; chmod 600 own`);
      const out = await same(v, 'user', OPENS);
      assert.match(out, /^open ro rt Permission denied$/m);
      assert.match(out, /^open own rt ok$/m);
    }, !defaultPermissions));
  }

  it('allocates with fallocate modes 0 and KEEP_SIZE as a plain directory does, keeping the format valid', () => withView(false, async (v) => {
    await writeFile(join(v.dir, 'data'), Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7 + 3) % 251)));
    await same(v, 'root', `
      fallocate -l 1M f; stat -c %s f; cmp -n 1048576 f /dev/zero && echo zeros
      cp '${v.dir}/data' g; fallocate -o 3000 -l 10000 g; stat -c %s g; sha256sum < g
      fallocate -o 100 -l 50 g; stat -c %s g; sha256sum < g
      fallocate -n -o 100000 -l 100000 g; stat -c %s g; sha256sum < g; echo tail >> g; sha256sum < g; stat -c %s g
      fallocate -l 8192 h; fallocate -o 8192 -l 4096 h; stat -c %s h; cmp h /dev/zero
      truncate -s 5000 k; fallocate -o 20000 -l 1 k; stat -c %s k; sha256sum < k
      : > e; fallocate -n -l 4096 e; stat -c %s e; fallocate -o 4095 -l 2 e; stat -c %s e; od -An -tx1 e | sort -u
      ${PY} -c 'import os; fd = os.open("g", os.O_RDONLY); os.posix_fallocate(fd, 0, 10)' 2>&1 | tail -1
      dd if='${v.dir}/data' of=g bs=1000 seek=20 conv=notrunc status=none; sha256sum < g`);
    // Mode 0 reserves the encrypted file's space (a 1 MiB file takes 1 MiB on the disk), not holes.
    const du = await sh(`du -k "$(find '${v.cipher}' -type f -size +1000k)"`);
    assert.ok(Number(du.stdout.split('\t')[0]) >= 1024, `fallocate -l 1M left a sparse encrypted file: ${du.stdout}`);
  }));

  it('refuses the fallocate modes that would break the format, as gocryptfs does', () => withView(false, async (v) => {
    const script = `
      head -c 20000 /dev/zero | tr '\\0' x > p; fallocate -p -o 4096 -l 4096 p; echo "punch=$?"; fallocate -z -o 0 -l 4096 p; echo "zero=$?"
      fallocate -c -o 0 -l 4096 p; echo "collapse=$?"; sha256sum < p
      fallocate -l 8192 q; stat -c %s q; fallocate -n -o 0 -l 100000 q; stat -c %s q; fallocate -o 5000 -l 3 q; stat -c %s q; sha256sum < q`;
    const kmx = await scriptOutput(v.mnt, script);
    const gocryptfs = join(v.dir, 'gocryptfs');
    const gmnt = join(v.dir, 'gmnt');
    await mkdir(gocryptfs);
    await mkdir(gmnt);
    await gocryptfsInit(gocryptfs);
    const theirs = await withGocryptfs(gocryptfs, gmnt, [], () => scriptOutput(gmnt, script));
    assert.equal(kmx, theirs);
    assert.match(kmx, /^punch=1$/m);
  }));

  it('writes long paths that gocryptfs reads back', () => withView(false, async (v) => {
    const tree = `
      seg=$(printf 'b%.0s' $(seq 1 127)); p=.; for i in $(seq 1 30); do p="$p/$seg"; done; long=$(printf 'L%.0s' $(seq 1 200))
      mkdir -p "$p/$long"; echo deep > "$p/f"; echo longer > "$p/$long/g"; ln -s f "$p/s"`;
    try {
      assert.equal((await sh(`cd '${v.mnt}' && ${tree}`)).code, 0);
      const listing = `find . -path ./gocryptfs.conf -prune -o -printf '%y %s %d %l\\n' | sort | uniq -c; find . -type f ! -name gocryptfs.conf -exec cat {} + | sort`;
      const kmx = await scriptOutput(v.mnt, listing);
      const gmnt = join(v.dir, 'gmnt');
      await mkdir(gmnt);
      const theirs = await withGocryptfs(v.cipher, gmnt, ['-ro'], () => scriptOutput(gmnt, listing));
      assert.equal(kmx, theirs);
      assert.match(kmx, /^longer$/m);
    } finally {
      // Removed through the view: a tree this deep is past what a path-based clean-up reaches.
      await sh(`cd '${v.mnt}' && rm -rf ./b*`);
    }
  }));
});

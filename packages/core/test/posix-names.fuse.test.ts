import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { same, withPosixMount } from './posix-compare.js';

/**
 * POSIX naming behaviour of `kmx passthrough` (served by root, allow_other and
 * default_permissions) compared with a plain directory: hard links, rename over files and
 * directories, renameat2 flags, names and paths near NAME_MAX and PATH_MAX.
 */

const PY = '/usr/bin/python3';

/** renameat2 through Python's ctypes: coreutils 9.1 has no `mv --exchange`. */
const RENAMEAT2 = `${PY} -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
flags = {"noreplace": 1, "exchange": 2}[sys.argv[3]]
if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), flags) != 0:
    print("renameat2:", os.strerror(ctypes.get_errno()))
else:
    print("renamed")'`;

const renameScript = `
  echo 1 > f1; echo 2 > f2; mv f1 f2; cat f2; ls f1
  mkdir d1 d2 full; touch full/x; echo file > file
  mv file d1; ls d1; mv d1/file .
  ${PY} -c 'import os
for a, b in [("file", "d2"), ("d2", "file"), ("d1", "full"), ("d1", "d1/sub"), ("nothere", "x"), ("d1", "d1"), ("file", "file"), ("d1", "."), (".", "x")]:
    try:
        os.rename(a, b); print("rename", a, b, "ok")
    except OSError as e:
        print("rename", a, b, e.strerror)'
  mv d1 d2; ls -d d1 d2; stat -c '%h' d2
  mkdir -p a/b/c; echo deep > a/b/c/f; cat a/b/c/f; mv a z; cat z/b/c/f; ls a; mv z/b y; cat y/c/f; ls -R z y
  echo keep > k; ln k k2; mv k k2; stat -c '%h' k2; cat k2; ls k`;

const renameFlagsScript = `
  echo x > p; echo y > q; ${RENAMEAT2} p q noreplace; ${RENAMEAT2} p r noreplace; ${RENAMEAT2} r q exchange; cat r q
  mkdir e; touch e/inside; ${RENAMEAT2} e q exchange; ls -d e q; cat e; ls q; ${RENAMEAT2} q nothere exchange`;

/** libfuse 2 (fuse-native) cannot pass renameat2's flags: the kernel refuses them with EINVAL. */
const noRenameFlags = process.env.KMX_FUSE_ENGINE === 'fuse-native' ? 'fuse-native (libfuse 2) has no renameat2 flags' : false;

/**
 * Below a 4,000-byte path, three levels more, reached by chdir one level at a time: past
 * PATH_MAX from the mountpoint (and from the backing directory), where only relative paths work.
 */
const DEEPER = `
import os, sys
os.chdir(sys.argv[1])
seg = "s" * 249
for _ in range(3):
    os.mkdir(seg); os.chdir(seg)
def attempt(what, call):
    try:
        result = call(); print(what, "ok" if result is None else result)
    except OSError as e:
        print(what, e.strerror)
attempt("create", lambda: open("f", "w").write("deeper") and None)
attempt("read", lambda: open("f").read())
attempt("link", lambda: os.link("f", "g"))
attempt("symlink", lambda: os.symlink("f", "s"))
attempt("readlink", lambda: os.readlink("s"))
attempt("mkfifo", lambda: os.mkfifo("p", 0o600))
attempt("mkdir", lambda: os.mkdir("d", 0o750))
attempt("stat", lambda: [(n, oct(os.lstat(n).st_mode), os.lstat(n).st_nlink) for n in sorted(os.listdir("."))])
attempt("rename", lambda: os.rename("g", "d/g"))
attempt("utime", lambda: os.utime("d/g", ns=(5, 6)))
attempt("mtime", lambda: os.stat("f").st_mtime_ns)
attempt("chmod", lambda: os.chmod("f", 0o640))
attempt("xattr", lambda: os.setxattr("f", "user.k", b"v"))
attempt("getxattr", lambda: os.getxattr("f", "user.k"))
attempt("truncate", lambda: os.truncate("f", 2))
attempt("size", lambda: os.stat("d/g").st_size)
attempt("statvfs", lambda: os.statvfs(".").f_namemax)
attempt("too-long", lambda: os.stat("x" * 256))
for name in ["d/g", "f", "s", "p"]:
    attempt("unlink " + name, lambda: os.unlink(name))
attempt("rmdir", lambda: os.rmdir("d"))
for _ in range(3):
    os.chdir(".."); os.rmdir(seg)
print("removed")
`;

describe('POSIX names through kmx passthrough', () => {
  it('shares one inode and link count between hard links', () => withPosixMount(async (m) => {
    const out = await same(m, 'root', `
      echo one > f; ln f g; ln g h; stat -c '%n %h' f g h
      [ "$(stat -c %i f)" = "$(stat -c %i h)" ] && echo same-inode
      echo two >> h; cat f; chmod 640 g; stat -c '%n %a' f h
      rm f; stat -c '%n %h' g h; cat g
      exec 3< g; rm g h; cat <&3; exec 3<&-
      mkdir d; ln d e; ln nothere x; ln g g2; ln h h`);
    assert.match(out, /^f 3$/m);
    assert.match(out, /same-inode/);
  }));

  it('keeps a file unlinked while open readable and stat-able', () => withPosixMount(async (m) => {
    await same(m, 'root', `
      echo content > f; exec 3<> f; rm f
      cat <&3; echo more >&3; stat -L -c '%s %h' /dev/fd/3; ls; exec 3>&-`);
  }));

  it('renames over files and empty directories, with the right errors', () => withPosixMount(async (m) => {
    await same(m, 'root', renameScript);
    await same(m, 'root', `mkdir u; chown 4242 u`);
    await same(m, 'user', `cd u; ${renameScript}`);
  }));

  it('renames correctly while the kernel caches names and attributes', () => withPosixMount(async (m) => {
    await same(m, 'root', renameScript);
  }, ['entry_timeout=60', 'attr_timeout=60']));

  it('passes renameat2\'s RENAME_NOREPLACE and RENAME_EXCHANGE', { skip: noRenameFlags }, () => withPosixMount(async (m) => {
    const out = await same(m, 'root', renameFlagsScript);
    assert.match(out, /^renameat2: File exists$/m);
  }, ['entry_timeout=60', 'attr_timeout=60']));

  it('gives the other user the rename errors of a sticky or read-only directory', () => withPosixMount(async (m) => {
    await same(m, 'root', 'touch mine; mkdir -m 0755 ro; touch ro/f; mkdir -m 1777 t; touch t/root-file');
    await same(m, 'user', `
      touch own; mv mine stolen; mv t/root-file t/x; mv own t/own && echo moved; mv t/own own
      mv ro/f f; mv own ro/own; mv own ro; ls`);
  }));

  it('handles names at NAME_MAX, and paths and symlink targets near PATH_MAX', () => withPosixMount(async (m) => {
    // 16 levels of 250-byte names: about 4,000 bytes below the mountpoint, deeper than
    // PATH_MAX once the backing directory's own path is added in front.
    const out = await same(m, 'root', `
      n255=$(printf 'n%.0s' $(seq 1 255)); n256="\${n255}x"
      touch "$n255" && echo name-255-ok; touch "$n256"; mkdir "$n256"; ls | wc -l
      seg=$(printf 's%.0s' $(seq 1 249))
      p=.; for i in $(seq 1 16); do p="$p/$seg"; done
      mkdir -p "$p" && echo deep-mkdir; printf '%s' "$p" | wc -c
      echo deep > "$p/f" && cat "$p/f"
      (cd "$p" && echo "in $(pwd | wc -c)" && touch g && ln g h && ln -s g s && mkfifo fifo && mkdir sub &&
        stat -c '%n %h %F' g h s fifo sub && mv g renamed && ls && readlink s && rm -r sub && echo x > renamed && cat h &&
        ${PY} -c 'import os; os.utime("h", ns=(1, 2)); print(os.stat("h").st_mtime_ns)' && chmod 600 h && stat -c '%a' renamed)
      ${PY} -c '${DEEPER}' "$p"
      t4095=$(printf 't%.0s' $(seq 1 4095)); ln -s "$t4095" long && readlink long | wc -c; ln -s "\${t4095}x" toolong
      ln -s "$t4095" "$p/long" && readlink "$p/long" | wc -c
      rm -r ./s*; ls`);
    assert.match(out, /name-255-ok/);
    assert.match(out, /deep-mkdir/);
    assert.match(out, /File name too long/);
    assert.match(out, /^4096$/m);
    assert.match(out, /^stat \[\('d', '0o40750', 2\), \('f', '0o100644', 2\)/m);
    assert.match(out, /^removed$/m);
  }));
});

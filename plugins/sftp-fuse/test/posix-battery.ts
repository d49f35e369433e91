// A fixed battery of POSIX checks for a mount, each a short shell script that must print in
// the mount what it prints in a plain directory (core's sameAsPlain): what changes the times
// and link counts of a directory and of a file, fstat of an unlinked file, inode numbers,
// nanosecond and out-of-range times, FIFOs, sockets and device nodes, long names and paths, and
// the errno of a few refusals. Scripts print relations (moved/kept, same/different), never
// values that differ between two directories (times of day, inode numbers). Each check works
// in its own new directory. Run as root.

export interface Check {
  name: string;
  script: string;
}

/** The times a check sets first, so that any change shows without waiting for the clock (SFTP v3 has seconds). */
const PAST = '@1000000000';

/**
 * After `setup`, sets each of `paths`' times to the past, records its ctime, runs `op`, and
 * says of each whether its mtime and ctime moved. `after` names the paths after `op` (a rename).
 */
function moves(setup: string, paths: string[], op: string, after: string[] = paths): string {
  const before = paths.map((p, i) => `touch -h -d ${PAST} ${p} && b${i}=$(stat -c %z ${p})`).join(' && ');
  const report = after.map((p, i) => `stat -c '%Y %z' ${p} | { read m z; [ "$m" != 1000000000 ] && echo "${p} mtime moved" || echo "${p} mtime kept"; [ "$z" != "$b${i}" ] && echo "${p} ctime moved" || echo "${p} ctime kept"; }`).join('; ');
  return `${setup} && ${before} && ${op} && { ${report}; }`;
}

/** A name of `n` characters. */
const name = (n: number): string => `$(printf '%0${n}d' 0)`;

/** A relative path of 16 directories of 250 characters (4,015 characters) and a file name making it `total` long. */
function longPath(total: number): string {
  const dirs = `d=$(printf '%0250d' 0) && P=$d/$d/$d/$d/$d/$d/$d/$d/$d/$d/$d/$d/$d/$d/$d/$d`;
  return `${dirs} && F=$P/$(printf '%0${total - 4016}d' 0)`;
}

const py = (lines: string[]): string => `python3 -c '${lines.join('\n')}'`;

export const POSIX_BATTERY: Check[] = [
  // A directory's mtime and ctime move when its entries change.
  { name: 'dir times: create', script: moves('mkdir d', ['d'], ': > d/new') },
  { name: 'dir times: create (O_EXCL)', script: moves('mkdir d', ['d'], 'set -C && : > d/new') },
  { name: 'dir times: mkdir', script: moves('mkdir d', ['d'], 'mkdir d/sub') },
  { name: 'dir times: rmdir', script: moves('mkdir -p d/sub', ['d'], 'rmdir d/sub') },
  { name: 'dir times: symlink', script: moves('mkdir d', ['d'], 'ln -s x d/l') },
  { name: 'dir times: link', script: moves('mkdir d && : > x', ['d'], 'ln x d/h') },
  { name: 'dir times: unlink', script: moves('mkdir d && : > d/x', ['d'], 'rm d/x') },
  { name: 'dir times: rename within', script: moves('mkdir d && : > d/x', ['d'], 'mv d/x d/y') },
  { name: 'dir times: rename across (both)', script: moves('mkdir d e && : > d/x', ['d', 'e'], 'mv d/x e/x') },
  { name: 'dir times: rename over (both)', script: moves('mkdir d e && : > d/x && : > e/x', ['d', 'e'], 'mv d/x e/x') },
  { name: 'dir times: rename a directory across', script: moves('mkdir -p d/s e', ['d', 'e'], 'mv d/s e/s') },
  { name: 'dir times: mkfifo', script: moves('mkdir d', ['d'], 'mkfifo d/p') },
  { name: 'dir times: mknod (regular)', script: moves('mkdir d', ['d'], py(['import os', 'os.mknod("d/r", 0o100644)'])) },

  // A file's own times.
  { name: 'file times: link moves ctime only', script: moves(': > x', ['x'], 'ln x h') },
  { name: 'file times: unlinking another name moves ctime only', script: moves(': > x && ln x h', ['x'], 'rm h') },
  { name: 'file times: rename moves ctime only', script: moves(': > x', ['x'], 'mv x y', ['y']) },
  { name: 'file times: chmod moves ctime only', script: moves(': > x', ['x'], 'chmod 600 x') },
  { name: 'file times: chown moves ctime only', script: moves(': > x', ['x'], 'chown 1:1 x') },
  { name: 'file times: write moves both', script: moves(': > x', ['x'], 'echo a >> x') },
  { name: 'file times: truncate moves both', script: moves(': > x', ['x'], 'truncate -s 5 x') },
  { name: 'file times: utimens moves ctime', script: moves(': > x', ['x'], 'touch -a x') },

  // Link counts.
  { name: 'nlink: a new directory', script: 'mkdir n && stat -c %h n' },
  { name: 'nlink: a directory\'s subdirectories', script: 'mkdir p && mkdir p/s p/t && stat -c %h p && rmdir p/s && stat -c %h p && mv p/t . && stat -c %h p' },
  { name: 'nlink: hard links', script: ': > f && ln f g && stat -c %h f g && ln g h && stat -c %h f && rm g && stat -c %h f h && rm h && stat -c %h f' },
  { name: 'nlink: a renamed hard link', script: ': > f && ln f g && mv g h && stat -c %h f h' },
  { name: 'rename between two names of one file leaves both', script: py(['import os', 'open("f", "w").write("x")', 'os.link("f", "g")', 'os.rename("f", "g")', 'print(sorted(os.listdir(".")), os.path.exists("f"), os.stat("g").st_nlink)']) },
  { name: 'nlink: fstat after the last name is unlinked', script: py(['import os', 'fd = os.open("f", os.O_RDWR | os.O_CREAT, 0o644)', 'os.write(fd, b"data")', 'os.unlink("f")', 's = os.fstat(fd)', 'print(s.st_nlink, s.st_size, os.path.exists("f"))']) },
  { name: 'nlink: fstat after a rename over the file', script: py(['import os', 'open("g", "w").write("new")', 'fd = os.open("f", os.O_RDWR | os.O_CREAT, 0o644)', 'os.rename("g", "f")', 's = os.fstat(fd)', 'print(s.st_nlink, s.st_size, os.stat("f").st_nlink)']) },
  { name: 'nlink: fstat after one of two names is unlinked', script: py(['import os', 'open("f", "w").write("x")', 'os.link("f", "g")', 'fd = os.open("f", os.O_RDONLY)', 'os.unlink("f")', 'print(os.fstat(fd).st_nlink, os.stat("g").st_nlink)']) },
  { name: 'nlink: an unlinked open file is not listed', script: py(['import os', 'fd = os.open("f", os.O_RDWR | os.O_CREAT, 0o644)', 'os.unlink("f")', 'print(os.listdir("."))']) },

  // Inode numbers.
  { name: 'ino: hard links share one', script: ': > f && ln f g && [ "$(stat -c %i f)" = "$(stat -c %i g)" ] && echo same || echo different' },
  { name: 'ino: kept across a rename', script: ': > f && a=$(stat -c %i f) && mv f g && [ "$a" = "$(stat -c %i g)" ] && echo kept || echo changed' },
  { name: 'ino: distinct files differ', script: ': > f && : > g && [ "$(stat -c %i f)" != "$(stat -c %i g)" ] && echo distinct || echo equal' },
  { name: 'ino: a listing agrees with stat', script: ': > f && [ "$(ls -i | awk \'$2 == "f" { print $1 }\')" = "$(stat -c %i f)" ] && echo agree || echo differ' },
  { name: 'ino: a file replaced by another name is another file', script: ': > f && : > g && a=$(stat -c %i g) && mv g f && [ "$a" = "$(stat -c %i f)" ] && echo moved || echo other' },

  // Times with nanoseconds, and beyond SFTP v3's unsigned 32-bit seconds.
  { name: 'ns: touch -d with nanoseconds', script: ': > f && touch -d "2001-02-03 04:05:06.123456789" f && stat -c "%x|%y" f' },
  { name: 'ns: atime alone keeps the mtime', script: ': > f && touch -d "2001-02-03 04:05:06.5" f && touch -a -d "2002-01-01 00:00:00.25" f && stat -c "%x|%y" f' },
  { name: 'ns: cp -p keeps them', script: ': > a && touch -d "2001-02-03 04:05:06.987654321" a && cp -p a b && stat -c %y b' },
  { name: 'ns: a directory', script: 'mkdir d && touch -d "2001-02-03 04:05:06.000000007" d && stat -c %y d' },
  { name: 'ns: a symlink itself', script: 'ln -s nowhere l && touch -h -d "2001-02-03 04:05:06.75" l && stat -c %y l' },
  { name: 'ns: an open file (futimens)', script: py(['import os', 'fd = os.open("f", os.O_RDWR | os.O_CREAT, 0o644)', 'os.write(fd, b"x")', 'os.utime(fd, ns=(1, 1500000000123456789))', 'os.close(fd)', 's = os.stat("f")', 'print(s.st_atime_ns, s.st_mtime_ns)']) },
  { name: 'times: before 1970', script: ': > f && touch -d "1969-12-31 23:59:58" f && stat -c %Y f' },
  { name: 'times: after 2106', script: ': > f && touch -d "2200-01-01 00:00:00" f && stat -c %Y f' },

  // Special files.
  { name: 'mkfifo', script: 'mkfifo p && stat -c "%F %a" p' },
  { name: 'a FIFO carries data', script: 'mkfifo p && { (echo through > p &) ; timeout 5 cat p; }' },
  { name: 'mknod of a FIFO and a regular file', script: py(['import os, stat', 'os.mknod("p", 0o600 | stat.S_IFIFO)', 'os.mknod("r", 0o640 | stat.S_IFREG)', 'print(oct(os.lstat("p").st_mode), oct(os.lstat("r").st_mode), os.lstat("r").st_size)']) },
  { name: 'a socket bound in the directory', script: py(['import os, socket', 's = socket.socket(socket.AF_UNIX)', 's.bind("sock")', 's.listen()', 'c = socket.socket(socket.AF_UNIX)', 'c.connect("sock")', 'print("connected", oct(os.lstat("sock").st_mode))']) },
  { name: 'mknod of a device node (root)', script: 'mknod null c 1 3 && stat -c "%F %t:%T" null' },
  { name: 'a hard link to a FIFO', script: 'mkfifo p && ln p q && stat -c "%F %h" q' },

  // Names and paths.
  { name: 'a name of 255 characters', script: `n=${name(255)} && echo x > "$n" && ls | wc -l && stat -c %s "$n" && mv "$n" f && ln -s "$n" "$n" && ls | wc -l` },
  { name: 'a name of 256 characters', script: `n=${name(256)}; : > "$n"; mkdir "$n"; stat "$n" > /dev/null; ln -s x "$n"; echo done` },
  { name: 'a path of PATH_MAX - 1 characters', script: `${longPath(4095)} && mkdir -p "$P" && echo data > "$F" && cat "$F" && stat -c %s "$F" && ls "$P" | wc -c && rm "$F" && ls "$P" | wc -c` },
  { name: 'a path of PATH_MAX characters', script: `${longPath(4096)} && mkdir -p "$P" && : > "$F"; stat "$F" 2>&1 | cut -c1-20` },

  // The errno of refusals the kernel leaves to the filesystem.
  { name: 'rmdir of a directory that is not empty', script: 'mkdir -p d/s && rmdir d' },
  { name: 'rename of a directory over one that is not empty', script: 'mkdir -p a b/c && mv -T a b' },
  { name: 'rename of a directory into itself', script: 'mkdir -p a/b && mv a a/b/c' },
  { name: 'rename of a directory over a file', script: 'mkdir a && : > f && mv -T a f' },
  { name: 'rename of a file over a directory', script: 'mkdir a && : > f && mv -T f a' },
  { name: 'link to a directory', script: 'mkdir a && ln a b' },
  { name: 'blocks and block size of a small file', script: 'printf x > f && sync f && stat -c "%b %B %o" f' },
];

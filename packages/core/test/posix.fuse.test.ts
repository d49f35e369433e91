import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sh } from '@kmx/core/testing';
import { USER, same, withPosixMount } from './posix-compare.js';

/**
 * POSIX behaviour of `kmx passthrough -o allow_other,default_permissions` served by root:
 * every operation is done through the mount and on a plain directory, as root and as another
 * user, and the results (errno messages, owners, modes, times, link counts) must agree.
 * The naming ops (links, rename, long paths) are in posix-names.fuse.test.ts.
 */

const PY = '/usr/bin/python3';

describe('POSIX behaviour through kmx passthrough', () => {
  it('gives new files, directories, links and special files the caller\'s uid and gid', () => withPosixMount(async (m) => {
    const script = `
      umask 022
      mkdir d; touch f; ln -s f s; ln f h; mkfifo p
      ${PY} -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
      echo data > d/inner; mkdir d/sub
      stat -c '%n %u:%g %a %F %h' d f s h p sock d/inner d/sub`;
    const asRoot = await same(m, 'root', `mkdir r; cd r; ${script}; mknod -m 0600 nul c 1 3; stat -c '%n %u:%g %a %F %t:%T' nul`);
    assert.match(asRoot, /^f 0:0 644 regular empty file 2$/m);
    await same(m, 'root', `mkdir u; chown ${USER}:${USER} u`);
    const asUser = await same(m, 'user', `cd u; ${script}; mknod nul c 1 3`);
    assert.match(asUser, new RegExp(`^f ${USER}:${USER} 644 regular empty file 2$`, 'm'));
    assert.match(asUser, new RegExp(`^sock ${USER}:${USER} 755 socket 1$`, 'm'));
    assert.match(asUser, /Operation not permitted/); // mknod of a device needs CAP_MKNOD
  }));

  it('follows the setgid-directory rule for the new files\' group', () => withPosixMount(async (m) => {
    await same(m, 'root', 'mkdir g; chown 0:5000 g; chmod 2777 g');
    const out = await same(m, 'user', `
      umask 022; cd g; touch f; mkdir d; mkfifo p; stat -c '%n %u:%g %A' f d p
      chmod 2755 f; stat -c '%n %A' f # not in group 5000: the kernel drops setgid`);
    assert.match(out, new RegExp(`^d ${USER}:5000 drwxr-sr-x$`, 'm'));
    assert.match(out, /^f -rwxr-xr-x$/m);
  }));

  it('applies the caller\'s umask once, and sets modes exactly as asked', () => withPosixMount(async (m) => {
    const script = `
      for mask in 000 002 022 077 777; do
        umask $mask; mkdir d$mask; touch f$mask; mkfifo p$mask
        ${PY} -c 'import os; os.close(os.open("o'$mask'", os.O_CREAT | os.O_WRONLY, 0o666)); os.mknod("n'$mask'", 0o10666)'
      done; umask 022
      stat -c '%n %a' d* f* p* o* n*
      mkdir -m 0 z0; mkdir -m 1777 z1; mkdir -m 2750 z2; mkdir -m 7777 z3; stat -c '%n %a' z*
      touch c; for mode in 0 7777 4755 2711 1644 0600 0444; do chmod $mode c; stat -c "$mode %a" c; done
      mkdir cd; for mode in 0 7777 3700 1777 0755; do chmod $mode cd; stat -c "$mode %a" cd; done`;
    const out = await same(m, 'root', script);
    assert.match(out, /^d002 775$/m);
    assert.match(out, /^f000 666$/m);
    await same(m, 'root', `mkdir u; chown ${USER} u`);
    await same(m, 'user', `cd u; ${script}`);
  }));

  it('keeps nanosecond timestamps, UTIME_NOW and UTIME_OMIT', () => withPosixMount(async (m) => {
    const out = await same(m, 'root', `
      touch f; touch -m -d '2001-02-03 04:05:06.123456789' f; touch -a -d '1999-12-31 23:59:59.000000001' f
      stat -c '%x | %y' f
      touch -a -d '2002-01-01 00:00:00.5' f; stat -c 'atime only: %x | %y' f
      touch -m -d '2003-01-01 00:00:00.25' f; stat -c 'mtime only: %x | %y' f
      touch -m f; [ $(( $(date +%s) - $(stat -c %Y f) )) -le 5 ] && echo 'mtime now'; stat -c 'atime kept: %x' f
      touch -a f; [ $(( $(date +%s) - $(stat -c %X f) )) -le 5 ] && echo 'atime now'
      touch -d '1960-06-01 12:00:00.75' old; stat -c '%y %Y' old
      ${PY} -c 'import os; os.utime("f", ns=(1234567890123456789, 987654321987654321)); s = os.stat("f"); print(s.st_atime_ns, s.st_mtime_ns)'
      c=$(stat -c %z f); chmod 600 f; [ "$(stat -c %z f)" != "$c" ] && echo 'ctime moved'
      ln -s f l; touch -h -d '2004-01-01 00:00:00.125' l; stat -c '%y' l f`);
    assert.match(out, /\| 2001-02-03 04:05:06\.123456789 \+0000$/m);
    assert.match(out, /^1234567890123456789 987654321987654321$/m);
  }));

  it('lets the other user change times only as the owner or with write access', () => withPosixMount(async (m) => {
    await same(m, 'root', 'touch open shut; chmod 666 open; chmod 644 shut; touch -d 2000-01-01 open shut');
    const out = await same(m, 'user', `
      touch open && echo 'now: allowed with write access'
      touch -d 2001-01-01 open; touch -m -d 2001-01-01 open
      touch shut; touch -d 2001-01-01 shut; touch -a shut
      stat -c '%n %y' shut`);
    assert.match(out, /Operation not permitted/);
    assert.match(out, /Permission denied/);
  }));

  it('gives the other user the same permission errors', () => withPosixMount(async (m) => {
    await same(m, 'root', `
      mkdir -m 0700 private; touch private/f; mkdir -m 0755 ro; touch ro/f; mkdir -m 0733 wx; echo s > wx/f
      echo secret > secret; chmod 600 secret; echo open > open; chmod 666 open; echo x > exe; chmod 711 exe
      echo mine > sticky-root; mkdir -m 1777 t; touch t/root-file; chown ${USER} t
      echo hi > rofile; chmod 444 rofile`);
    const out = await same(m, 'user', `
      ls private; cat private/f; touch private/g; stat -c %s private/f
      touch ro/g; rm ro/f; mv ro/f ro/h; cat ro/f; ls ro
      ls wx; cat wx/f; touch wx/g && echo made; rm wx/g
      cat secret; echo x >> secret; cat open; echo more >> open; cat open
      ./exe; cat exe; rm sticky-root; mv sticky-root mine
      rm t/root-file && echo 'owner of the sticky dir may delete'
      echo x > rofile; chmod 666 rofile; chown ${USER} rofile; chgrp 0 rofile
      touch mine; chown 0 mine; chgrp ${USER} mine && echo 'own group ok'; chgrp 5000 mine
      chmod 4755 mine; stat -c '%a %u:%g' mine`);
    assert.match(out, /Permission denied/);
    assert.match(out, /Operation not permitted/);
  }));

  it('clears setuid and setgid when another user writes or root chowns', () => withPosixMount(async (m) => {
    await same(m, 'root', `
      echo a > s; chmod 6777 s; echo b > c; chmod 6755 c; chown ${USER}:${USER} c`);
    await same(m, 'user', 'echo more >> s; stat -c "%n %a" s');
    await same(m, 'root', 'chown 1:1 c; stat -c "%n %a %u:%g" c; chmod 6755 c; echo root >> c; stat -c "%n %a" c');
  }));

  it('makes FIFOs and sockets that work through the mount', () => withPosixMount(async (m) => {
    await same(m, 'user', `
      mkfifo -m 0622 fifo; stat -c '%a %F %s' fifo
      (echo through-the-fifo > fifo &) ; cat fifo
      ${PY} -c '
import os, socket
s = socket.socket(socket.AF_UNIX); s.bind("sock"); s.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect("sock"); a, _ = s.accept(); c.send(b"ping"); print(a.recv(4).decode())'
      stat -c '%F %a' sock; rm fifo sock; ls`);
  }));

  it('reports the backing inode numbers (use_ino) and link counts', () => withPosixMount(async (m) => {
    const r = await sh(`cd '${m.mnt}' && mkdir d && mkdir d/a d/b && touch f && ln f g &&
      for p in d d/a f g; do echo "$p $(stat -c '%i %h' "$p") $(stat -c '%i %h' '${m.src}'/"$p")"; done`);
    assert.equal(r.code, 0, r.stderr);
    for (const line of r.stdout.trim().split('\n')) {
      const [path, ino, links, backingIno, backingLinks] = line.split(' ');
      assert.equal(ino, backingIno, `st_ino of ${path}`);
      assert.equal(links, backingLinks, `st_nlink of ${path}`);
    }
  }));
});

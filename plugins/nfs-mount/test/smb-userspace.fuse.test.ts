import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runKmx, sh, withTestMount, type TestMount } from '@kmx/core/testing';
import { smbArgs, withSmbd, type SmbdPeer } from './smbd-peer.js';

/** kmx smb in user space against Samba's smbd on loopback: libsmbclient through FUSE. */

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const mounted = (body: (peer: SmbdPeer, m: TestMount) => Promise<void>, extra: string[] = [], server: { minProtocol?: string; maxProtocol?: string } = {}): Promise<void> =>
  withSmbd((peer) => withTestMount({ args: ({ mnt }) => smbArgs(peer, mnt, extra), env: { PASSWD: peer.password } }, (m) => body(peer, m)), server);

describe('user-space SMB', () => {
  it('reads, writes, creates, renames, unlinks, makes dirs, truncates, sets times and moves a large file', () => mounted(async (peer, m) => {
    const server = peer.shareDir;
    writeFileSync(join(server, 'existing.txt'), 'from the server\n');
    assert.equal(readFileSync(join(m.mnt, 'existing.txt'), 'utf8'), 'from the server\n');
    writeFileSync(join(m.mnt, 'new.txt'), 'from the client\n');
    assert.equal(readFileSync(join(server, 'new.txt'), 'utf8'), 'from the client\n');
    const r = await sh(`cd '${m.mnt}' && mkdir -p d/e && echo x > d/e/f && mv d/e/f d/g && cat d/g && echo yz >> d/g && truncate -s 3 d/g && stat -c %s d/g && rm d/g && rmdir d/e && ls d && rmdir d && ls`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'x\n3\nexisting.txt\nnew.txt\n');
    assert.equal(existsSync(join(server, 'd')), false);
    // Files show as the mounting user's, whoever owns them on the server (cifs's uid=/gid=).
    assert.equal(statSync(join(m.mnt, 'existing.txt')).uid, process.getuid!());
    const mtime = await sh(`touch -m -d @981173106 '${m.mnt}/new.txt' && stat -c %Y '${server}/new.txt' '${m.mnt}/new.txt'`);
    assert.equal(mtime.stdout, '981173106\n981173106\n', mtime.stderr);
    // A rename over an existing file replaces it; a name with spaces and % survives the URL.
    const names = await sh(`cd '${m.mnt}' && echo 1 > 'a b%20c' && echo 2 > t && mv t 'a b%20c' && cat 'a b%20c' && ls`);
    assert.equal(names.stdout, '2\na b%20c\nexisting.txt\nnew.txt\n', names.stderr);
    const data = randomBytes(32 * 1024 * 1024);
    writeFileSync(join(m.dir, 'big.src'), data);
    const cp = await sh(`cp '${m.dir}/big.src' '${m.mnt}/big' && cmp '${m.dir}/big.src' '${server}/big' && echo 3 > /proc/sys/vm/drop_caches && cmp '${server}/big' '${m.mnt}/big' && echo same`, { timeoutMs: 120_000 });
    assert.equal(cp.stdout, 'same\n', cp.stderr);
    assert.deepEqual(readdirSync(m.mnt).sort(), ['a b%20c', 'big', 'existing.txt', 'new.txt']);
    const df = await sh(`df -P '${m.mnt}' | tail -1`);
    assert.match(df.stdout, /^\/\/127\.0\.0\.1\/share +\d+ /, df.stderr);
  }));

  it('refuses symlinks (ENOSYS) and hard links (EPERM): libsmbclient 4.17 has no SMB3 POSIX extensions; chown to others with EPERM', () => mounted(async (peer, m) => {
    writeFileSync(join(peer.shareDir, 'f'), 'f\n');
    const r = await sh(`cd '${m.mnt}' && ln -s f l; echo $?; ln f h; echo $?; chown 1:1 f; echo $?; chown ${process.getuid!()} f; echo $?; ls`);
    assert.equal(r.stdout, '1\n1\n1\n0\nf\n', r.stderr);
    assert.match(r.stderr, /symbolic link.*Function not implemented/);
    assert.match(r.stderr, /hard link.*Operation not permitted/); // the kernel's answer when FUSE has no link
  }));

  it('speaks SMB 2.1, 3.0 and 3.1.1 as --vers asks', () => withSmbd(async (peer) => {
    for (const vers of ['2.1', '3.0', '3.1.1']) {
      await withTestMount({ args: ({ mnt }) => smbArgs(peer, mnt, ['--vers', vers]), env: { PASSWD: peer.password } }, async (m) => {
        writeFileSync(join(m.mnt, `v${vers}`), vers);
        assert.equal(readFileSync(join(peer.shareDir, `v${vers}`), 'utf8'), vers);
        const protocol = { '2.1': 'SMB2_10', '3.0': 'SMB3_00', '3.1.1': 'SMB3_11' }[vers];
        assert.match(await peer.sessions(), new RegExp(`${peer.user.name} .* ${protocol} `));
      });
    }
  }, { minProtocol: 'SMB2_10', maxProtocol: 'SMB3_11' }));

  it('answers EIO without hanging while the server is gone, and reconnects once it is back', () => mounted(async (peer, m) => {
    writeFileSync(join(peer.shareDir, 'f'), randomBytes(24 * 1024 * 1024)); // beyond any read-ahead
    writeFileSync(join(peer.shareDir, 'g'), 'g\n');
    // Mid-read: a reader holds the file open, the server dies under it.
    const reader = sh(`exec 3<'${m.mnt}/f'; head -c 65536 <&3 >/dev/null; while [ ! -e '${m.dir}/killed' ]; do sleep 0.05; done; echo 3 > /proc/sys/vm/drop_caches; cat <&3 >/dev/null; echo rc=$?`, { timeoutMs: 30_000 });
    // A file held open across the outage: read once the server is back (kmx opens it again).
    const held = sh(`exec 4<'${m.mnt}/g'; while [ ! -e '${m.dir}/restarted' ]; do sleep 0.05; done; echo 3 > /proc/sys/vm/drop_caches; cat <&4`, { timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await peer.kill();
    writeFileSync(join(m.dir, 'killed'), '');
    const started = Date.now();
    const read = await reader;
    assert.match(read.stdout, /rc=1/, read.stderr);
    assert.match(read.stderr, /Input\/output error/);
    const down = await sh(`cat '${m.mnt}/g'; echo rc=$?`, { timeoutMs: 30_000 });
    assert.match(down.stdout, /rc=1/);
    assert.ok(Date.now() - started < 20_000, `errors took ${Date.now() - started} ms`);
    const listed = async (): Promise<{ state?: string; status?: string } | undefined> =>
      (JSON.parse((await runKmx(['smb', 'list', '--json'])).stdout) as { mounts: Array<{ mountpoint: string; state?: string; status?: string }> }).mounts.find((r) => r.mountpoint === m.mnt);
    await until(async () => (await listed())?.state === 'down');
    assert.match((await listed())?.status ?? '', /^reconnecting: down since .*: E[A-Z]+$/);
    await peer.restart();
    writeFileSync(join(m.dir, 'restarted'), '');
    const back = await sh(`echo 3 > /proc/sys/vm/drop_caches; cat '${m.mnt}/g' && echo h > '${m.mnt}/h' && cat '${peer.shareDir}/h'`, { timeoutMs: 30_000 });
    assert.equal(back.stdout, 'g\nh\n', back.stderr);
    const reopened = await held;
    assert.equal(reopened.stdout, 'g\n', reopened.stderr);
    await until(async () => (await listed())?.state === 'ok');
    assert.match((await listed())?.status ?? '', /^connected \(reconnected after \d+ s down\)$/);
  }));
});

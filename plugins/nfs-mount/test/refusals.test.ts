import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { NfsConnection, type Mounted } from '../src/lib/userspace/connection.js';
import type { NfsContext } from '../src/lib/userspace/driver.js';
import { classifyFailure, NfsStateError } from '../src/lib/userspace/failures.js';
import { credentialKey, parseStatus } from '../src/lib/userspace/pool.js';

/**
 * How kmx nfs --userspace reads libnfs 4.0's failures, and what its connection does with an
 * NFSv4 client whose state the server refuses (the FUSE tests drive the same against ganesha).
 */

const { EFAULT, EINTR, ERANGE, EIO } = constants.errno;

describe('kmx nfs: libnfs failures', () => {
  it('tells a refused NFSv3 READ or WRITE (which libnfs answers with EFAULT, as a broken connection) from a broken connection', () => {
    assert.deepEqual(classifyFailure(-EFAULT, '', 'NFS: Write failed with NFS3ERR_NOSPC(-28)'), { kind: 'refused', errno: constants.errno.ENOSPC, status: 'NOSPC' });
    assert.deepEqual(classifyFailure(-EFAULT, '', 'NFS: Read failed with NFS3ERR_STALE(-116)'), { kind: 'refused', errno: constants.errno.ESTALE, status: 'STALE' });
    assert.deepEqual(classifyFailure(-EFAULT, '', 'NFS: Write failed with NFS3ERR_DQUOT(-34)'), { kind: 'refused', errno: constants.errno.EDQUOT, status: 'DQUOT' });
    assert.equal(classifyFailure(-EFAULT, '', 'NFS: Write failed. No bytes written!').kind, 'refused');
    assert.deepEqual(classifyFailure(-EFAULT, 'Socket error', 'rpc_read_from_socket: socket error Connection reset by peer(104)'), { kind: 'transport', reason: 'connection reset by peer' });
    assert.equal(classifyFailure(-EINTR, 'Command timed out', '').kind, 'transport');
  });

  it('names what NFSv4 statuses libnfs turns into ERANGE mean, by the status that ends the message', () => {
    assert.deepEqual(classifyFailure(-ERANGE, 'NFS4: OPEN (path /a) failed with NFS4ERR_BAD_SEQID(-22)', ''), { kind: 'state', status: 'BAD_SEQID' });
    assert.deepEqual(classifyFailure(-ERANGE, 'NFS4: READ (path /a) failed with NFS4ERR_EXPIRED(-5)', ''), { kind: 'state', status: 'EXPIRED' });
    assert.deepEqual(classifyFailure(-ERANGE, 'NFS4: WRITE (path /a) failed with NFS4ERR_DQUOT(-34)', ''), { kind: 'refused', errno: constants.errno.EDQUOT, status: 'DQUOT' });
    assert.deepEqual(classifyFailure(-constants.errno.EACCES, 'NFS4: (path /a) failed with NFS4ERR_ACCESS(-13)', ''), { kind: 'refused', errno: constants.errno.EACCES, status: 'ACCESS' });
    // A path is only a name, whatever it reads like.
    assert.deepEqual(classifyFailure(-constants.errno.ENOENT, 'NFS4: (path /failed with NFS4ERR_BAD_SEQID(-22)/x) failed with NFS4ERR_NOENT(-2)', ''), { kind: 'refused', errno: constants.errno.ENOENT, status: 'NOENT' });
    // libnfs refuses an NFSv4 open the server made, for want of access to the directory.
    assert.equal(classifyFailure(-constants.errno.EINVAL, 'Insufficient ACCESS. Wanted 00000003 but got 00000001.', '').kind, 'refused');
    assert.deepEqual(classifyFailure(-ERANGE, 'something else', ''), { kind: 'refused', errno: EIO });
  });

  it('reads a caller\'s groups from /proc/PID/status, and keys a credential by its first 16', () => {
    const status = 'Name:\tsh\nUid:\t1000\t1000\t1000\t1001\nGid:\t100\t100\t100\t101\nGroups:\t4 24 27 \n';
    assert.deepEqual(parseStatus(status), { fsuid: 1001, fsgid: 101, groups: [4, 24, 27] });
    assert.deepEqual(parseStatus('Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n'), { fsuid: 0, fsgid: 0, groups: [] });
    assert.equal(parseStatus('Name:\tx\n'), undefined);
    const many = Array.from({ length: 20 }, (_, i) => i + 1);
    assert.equal(credentialKey({ uid: 1, gid: 2, groups: many }), credentialKey({ uid: 1, gid: 2, groups: many.slice(0, 16) }));
  });
});

/** A libnfs context stand-in: calls in flight, drained when told, closed once. */
class FakeContext {
  pending = 0;
  closed = false;
  private idle: Array<() => void> = [];
  lastAnswer = Date.now();

  get pendingCount(): number {
    return this.pending;
  }

  onLost(): void {}

  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  finish(): void {
    this.pending = 0;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  close(): void {
    this.closed = true;
  }
}

function mounted(ctx: FakeContext): Mounted {
  return { ctx: ctx as unknown as NfsContext, readMax: 1 << 20, writeMax: 1 << 20, nameMax: 255 };
}

describe('kmx nfs: a fresh NFSv4 client', () => {
  it('sends an operation the server refused for its state (BAD_SEQID) once more, on a fresh client made after the old one\'s calls are done', async () => {
    const first = new FakeContext();
    const contexts: FakeContext[] = [first];
    const events: string[] = [];
    const connection = new NfsConnection(mounted(first), {
      open: async () => {
        events.push(`open (old closed: ${first.closed})`);
        const ctx = new FakeContext();
        contexts.push(ctx);
        return mounted(ctx);
      },
      timeoutMs: 5000,
      probeMs: 0,
      log: (line) => events.push(line),
    }, async () => undefined);
    try {
      first.pending = 1; // another call in flight on the old client
      let attempts = 0;
      const result = connection.run(false, async (session) => {
        attempts++;
        if (session.ctx === (first as unknown as NfsContext)) throw new NfsStateError('open', 'BAD_SEQID', 'NFS4: OPEN (path /a) failed with NFS4ERR_BAD_SEQID(-22)');
        return 'done';
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(events, ['the server refused its NFSv4 state (NFS4ERR_BAD_SEQID): starting a fresh NFSv4 client'], 'no new client while the old one has calls in flight');
      first.finish();
      assert.equal(await result, 'done');
      assert.equal(attempts, 2);
      assert.deepEqual(events.slice(1), ['open (old closed: true)']);
      assert.equal(connection.state.status, 'connected');
      assert.equal(connection.live?.retired, false);
    } finally {
      connection.close();
    }
  });

  it('fails an operation refused for its state twice with EIO, and renews on request without saying so when quiet', async () => {
    const events: string[] = [];
    const connection = new NfsConnection(mounted(new FakeContext()), {
      open: async () => mounted(new FakeContext()),
      timeoutMs: 5000,
      probeMs: 0,
      log: (line) => events.push(line),
    }, async () => undefined);
    try {
      await assert.rejects(connection.run(true, async () => {
        throw new NfsStateError('read', 'EXPIRED', 'expired');
      }), (err: NodeJS.ErrnoException) => err.code === 'EIO' && !(err instanceof NfsStateError));
      const live = await connection.session(); // the second fresh client
      connection.renew(live, 'a refused OPEN', true);
      assert.equal(live.retired, true);
      assert.notEqual(await connection.session(), live);
      assert.equal(events.filter((e) => e.includes('a refused OPEN')).length, 0);
    } finally {
      connection.close();
    }
  });
});

import type { Attr, Timespec } from '@kmx/core';
import type { LibNfs, Pointer } from './bindings.js';
import type { NfsConnection, Session } from './connection.js';
import { ConnectionLost, NfsStateError } from './failures.js';
import type { NfsProtocol } from './mount-export.js';

// How one client's libnfs calls go out: on its kept connection (connection.ts), NFSv4 OPENs and
// CLOSEs one at a time, and a fresh NFSv4 client after a refused OPEN.

function timespec(sec: bigint | number, nsec: bigint | number): Timespec {
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** libnfs's struct nfs_stat_64 (valid only during its callback) as an Attr. */
export function statAttr(session: Session, data: Pointer): Attr {
  const lib = session.ctx.library;
  const s = lib.koffi.decode(data, lib.statType) as Record<string, bigint | number>;
  const n = (k: string): number => Number(s[k] ?? 0);
  return {
    mode: n('mode'), nlink: n('nlink'), uid: n('uid'), gid: n('gid'), size: n('size'), ino: n('ino'), rdev: n('rdev'),
    blksize: n('blksize') || 4096, blocks: n('blocks') || Math.ceil(n('used') / 512),
    atime: timespec(s.atime ?? 0, s.atime_nsec ?? 0), mtime: timespec(s.mtime ?? 0, s.mtime_nsec ?? 0), ctime: timespec(s.ctime ?? 0, s.ctime_nsec ?? 0),
  };
}

/** The attributes of `path`, asked on `session` itself. */
export function statOn(session: Session, path: string): Promise<Attr> {
  return session.ctx.call('lstat', (cb, id) => session.ctx.library.lstat64_async(session.ctx.raw, path, cb, id), (data) => statAttr(session, data));
}

export class NfsCalls {
  /** NFSv4.0 OPEN/CLOSE carry the open-owner's sequence id: libnfs 4.0 needs them one at a time. */
  private sequenced: Promise<unknown> = Promise.resolve();

  constructor(readonly connection: NfsConnection, readonly protocol: NfsProtocol) {}

  /** Runs `op` after every earlier OPEN/CLOSE has finished (v4 only; v3 has no open state). */
  inSequence<T>(op: () => Promise<T>): Promise<T> {
    if (this.protocol !== 4) return op();
    const run = this.sequenced.then(op, op);
    this.sequenced = run.catch(() => undefined);
    return run;
  }

  /**
   * One call on the live connection (`repeatable`: sent again on a new one if this one breaks
   * under it). `stateful`: an NFSv4 OPEN, which carries the open-owner's sequence number:
   * refused, it leaves libnfs 4.0's count behind the server's (the server counts a refused OPEN,
   * libnfs does not), and every later OPEN would fail (BAD_SEQID); or libnfs refused it after
   * the server had opened the file ("Insufficient ACCESS"), and that open is left behind. So the
   * client starts afresh (connection.ts renew).
   */
  call<T>(repeatable: boolean, what: string, start: (lib: LibNfs, raw: Pointer, cb: bigint, id: Pointer) => number, onData: (session: Session, data: Pointer, result: number) => T, stateful = false): Promise<T> {
    return this.connection.run(repeatable, async (s) => {
      try {
        return await s.ctx.call(what, (cb, id) => start(s.ctx.library, s.ctx.raw, cb, id), (data, result) => onData(s, data, result));
      } catch (err) {
        if (stateful) this.afterRefusal(s, what, err);
        throw err;
      }
    });
  }

  /** An NFSv4 OPEN was refused on `session` (see call): start afresh. */
  afterRefusal(session: Session, what: string, err: unknown): void {
    if (this.protocol !== 4 || err instanceof ConnectionLost || err instanceof NfsStateError) return;
    this.connection.renew(session, `a refused ${what.toUpperCase()} may have put the NFSv4 open sequence out of step`, true);
  }
}

import { constants as fsConstants } from 'node:fs';
import { SysError, renamedPath } from '@kmx/core';
import type { Pointer } from './bindings.js';
import type { NfsCalls } from './calls.js';
import type { Session } from './connection.js';
import { ConnectionLost, NfsStateError } from './failures.js';

// A client's open files across connections: a libnfs handle belongs to one connection, so on a
// new one a file is opened again by its (current) path before its next use; and writes that a
// connection acknowledged but lost before they were committed are reported, as a local
// filesystem reports a lost write-back.

const O_ACCMODE = 3;
/** What an open keeps when it is opened again on a new connection. */
const REOPEN_FLAGS = O_ACCMODE | fsConstants.O_APPEND;

/**
 * An open file. Its libnfs handle belongs to one connection: on a new one the file is opened
 * again by its (current) path before its next use, with the access it was opened with.
 */
export class NfsFile {
  /** Writes were acknowledged on this connection and not yet committed (fsync). */
  unsynced: Session | undefined;
  reopening: Promise<Pointer> | undefined;
  constructor(public path: string, readonly flags: number, public fh: Pointer, public session: Session) {}

  /** `session` acknowledged writes to it (uncommitted until an fsync). */
  wrote(session: Session): void {
    if (!this.unsynced?.lost) this.unsynced = session;
  }

  /**
   * Throws EIO if writes were acknowledged on a connection that broke before they were
   * committed: a server that restarted may have lost them (the kernel's client sends them
   * again; libnfs keeps no copy to send). As a local filesystem reports a lost write-back: every
   * close says so, and the next fsync (then it is forgotten). A close is not enough to forget
   * it: every exec of a process that inherited the descriptor closes it too.
   */
  checkWritesKept(forget = false): void {
    if (!this.unsynced?.lost) return;
    if (forget) this.unsynced = undefined;
    throw SysError.of('EIO', 'write', this.path, { detail: 'writes made before the connection to the NFS server was lost may not have reached its disk' });
  }

  /** An fsync went through: what was written is on the server's disk, unless it was lost before. */
  committed(): void {
    this.checkWritesKept(true);
    this.unsynced = undefined;
  }
}

/** The files open now through one client, whose paths follow renames (a reopen goes by path). */
export class OpenFiles {
  private readonly files = new Set<NfsFile>();

  constructor(private readonly calls: NfsCalls) {}

  get size(): number {
    return this.files.size;
  }

  /** A file the server opened on `session`, with handle `fh`. */
  opened(path: string, flags: number, session: Session, fh: Pointer): NfsFile {
    if (!fh) throw SysError.of('EIO', 'open', path, { detail: 'no handle' });
    const file = new NfsFile(path, flags & REOPEN_FLAGS, fh, session);
    this.files.add(file);
    return file;
  }

  /** A call on an open file, opened again first if the connection is new. */
  on<T>(repeatable: boolean, file: NfsFile, op: (session: Session, fh: Pointer) => Promise<T>): Promise<T> {
    return this.calls.connection.run(repeatable, async (s) => op(s, await this.handleOn(file, s)));
  }

  /** Open files under `from` are under `to` now. */
  renamed(from: string, to: string): void {
    for (const file of this.files) file.path = renamedPath(file.path, from, to);
  }

  /** Closes an open file. On a connection that is gone there is nothing left to close. */
  close(file: NfsFile): Promise<void> {
    if (!this.files.delete(file)) return Promise.resolve();
    const { connection, protocol } = this.calls;
    return this.calls.inSequence(async () => {
      await file.reopening?.catch(() => undefined);
      const session = connection.live;
      if (file.session !== session || session === undefined) return;
      await session.ctx.call('close', (cb, id) => session.ctx.library.close_async(session.ctx.raw, file.fh, cb, id), () => undefined).catch((err: unknown) => {
        if (err instanceof ConnectionLost) {
          connection.lost(session, err.reason); // and the server's state of the open went with it
          return;
        }
        if (protocol !== 4) throw err;
        // A CLOSE refused (the file removed on the server, say: STALE) leaves libnfs's open
        // sequence a step ahead; a fresh client drops whatever the server still had open.
        if (err instanceof NfsStateError) connection.renew(session, `the server refused its NFSv4 state (NFS4ERR_${err.status})`);
        else connection.renew(session, 'a refused CLOSE put the NFSv4 open sequence out of step', true);
      });
    });
  }

  /**
   * The handle of `file` on `session`: opened again by its path when it was opened on an
   * earlier connection (once, however many calls ask; on v4 in the open sequence).
   */
  private handleOn(file: NfsFile, session: Session): Promise<Pointer> | Pointer {
    if (file.session === session) return file.fh;
    if (!this.files.has(file)) throw SysError.of('EBADF', 'nfs', file.path, { detail: 'the file is closed' });
    file.reopening ??= this.calls.inSequence(() => session.ctx.call('open', (cb, id) => session.ctx.library.open_async(session.ctx.raw, file.path, file.flags, cb, id), (data) => {
      if (!data) throw SysError.of('EIO', 'open', file.path, { detail: 'no handle' });
      return data;
    }).catch((err: unknown) => {
      this.calls.afterRefusal(session, 'open', err);
      throw err;
    })).then((fh) => {
      file.fh = fh;
      file.session = session;
      return fh;
    }, (err: unknown) => {
      if (err instanceof ConnectionLost || err instanceof NfsStateError) throw err;
      // Gone from the server meanwhile, say: what was open is no longer there.
      throw SysError.of('EIO', 'open', file.path, { detail: `cannot open it again after reconnecting: ${err instanceof Error ? err.message : String(err)}` });
    }).finally(() => {
      file.reopening = undefined;
    });
    return file.reopening;
  }
}

import type { Attr, TimeUpdate } from '@kmx/core';
import type { Stats } from 'ssh2';
import { UTIME_NOW, UTIME_OMIT, v3Seconds, type Timespec } from '../protocol/kmx-posix.js';
import type { SetAttrs, SftpSession } from '../protocol/session.js';
import { S_IFLNK, S_IFMT, estimatedBlocks, fromV3 } from './attrs.js';
import type { RemoteTree } from './remote-tree.js';

/** How fresh attributes must be for a no-op chmod/chown to skip the server. */
const NO_OP_WINDOW_MS = 1000;
/** Attribute changes that may go behind a created file's writes (setAttributes). */
const CHANGES_BEHIND = new Set(['mode', 'times']);

function seconds(t: TimeUpdate, current: { sec: number }): number {
  if (t === 'now') return Math.floor(Date.now() / 1000);
  if (t === 'omit') return current.sec;
  return t.sec;
}

/** A time for kmx's extension: the value, or UTIME_NOW / UTIME_OMIT for the server to apply. */
function wireTime(t: TimeUpdate): Timespec {
  if (t === 'now') return { sec: 0, nsec: UTIME_NOW };
  if (t === 'omit') return { sec: 0, nsec: UTIME_OMIT };
  return t;
}

/**
 * chmod, chown, truncate and utimens: one setstat each (or none, or one behind a file's
 * writes), and the attributes the cache says the file has after it.
 */
export class AttributeChanges {
  constructor(
    private readonly tree: RemoteTree,
    /** The file system's getattr: what chown and utimens keep when told to leave a value alone. */
    private readonly getattr: (path: string, fh?: number) => Promise<Attr>,
  ) {}

  async chmod(path: string, mode: number, fh?: number): Promise<void> {
    this.tree.writable('chmod', path);
    if (this.unchanged(path, (a) => (a.mode & 0o7777) === (mode & 0o7777))) return;
    await this.setAttributes(path, fh, { mode: mode & 0o7777 }, { mode: mode & 0o7777 });
  }

  async chown(path: string, uid: number, gid: number, fh?: number): Promise<void> {
    const current = uid === -1 || gid === -1 ? await this.getattr(path, fh) : undefined;
    const ids = this.tree.options.ids;
    const localUid = uid === -1 ? current!.uid : uid;
    const localGid = gid === -1 ? current!.gid : gid;
    this.tree.writable('chown', path);
    if (this.unchanged(path, (a) => a.uid === localUid && a.gid === localGid)) return;
    await this.setAttributes(path, fh, { uid: ids.remoteUid(localUid), gid: ids.remoteGid(localGid) }, { uid: localUid, gid: localGid });
  }

  async truncate(path: string, size: number, fh?: number): Promise<void> {
    await this.setAttributes(path, fh, { size }, { size });
  }

  /**
   * With kmx's extension, nanoseconds and the times "now" and "unchanged" go to the server as
   * such. Over SFTP v3, whole seconds, as an unsigned 32-bit number (the cache says what the
   * server will have: a time before 1970 or after 2106 comes back wrapped, as with sshfs).
   */
  async utimens(path: string, atime: TimeUpdate, mtime: TimeUpdate, fh?: number): Promise<void> {
    if (this.tree.connection.live?.kmxPosix) {
      const now = this.tree.now();
      const local: Partial<Attr> = {};
      if (atime !== 'omit') local.atime = atime === 'now' ? now : atime;
      if (mtime !== 'omit') local.mtime = mtime === 'now' ? now : mtime;
      await this.setAttributes(path, fh, { times: [wireTime(atime), wireTime(mtime)] }, local);
      return;
    }
    const current = atime === 'omit' || mtime === 'omit' ? await this.getattr(path, fh) : undefined;
    const a = v3Seconds(seconds(atime, current?.atime ?? { sec: 0 }));
    const m = v3Seconds(seconds(mtime, current?.mtime ?? { sec: 0 }));
    await this.setAttributes(path, fh, { times: [{ sec: a, nsec: 0 }, { sec: m, nsec: 0 }] }, { atime: { sec: a, nsec: 0 }, mtime: { sec: m, nsec: 0 } });
  }

  /**
   * A chmod or chown that changes nothing, on a file whose attributes the server gave us a
   * moment ago (tar's chown and chmod right after creating a file, typically), is answered
   * without a round trip. Not for setuid/setgid files, whose bits a chown would clear.
   */
  private unchanged(path: string, change: (attr: Attr) => boolean): boolean {
    const attr = this.tree.cache.recent(path, NO_OP_WINDOW_MS);
    return attr !== undefined && (attr.mode & 0o6000) === 0 && (attr.mode & S_IFMT) !== S_IFLNK && change(attr);
  }

  /**
   * setstat of a path, or of the link itself when it is a symlink (SFTP's setstat follows links).
   * A change of mode or times to a file this mount created and still has open for writing
   * goes behind its writes like one more write, and is answered at once (tar and cp -p set them
   * right before close: one round trip per file less). Its owner may always make them, so
   * only a broken connection or an odd server fails them; that is reported by the file's next
   * flush, fsync or close, as a failed write is. Not chown: cp -p ignores its EPERM, which
   * would come back at close instead.
   */
  private async setAttributes(path: string, fh: number | undefined, attrs: SetAttrs, local: Partial<Attr> = {}): Promise<void> {
    this.tree.writable('setattr', path);
    // A truncate cuts the open files of the path, or only the orphan it came through (whose
    // old path may name another file now). Writes before it land before it; those after it
    // follow it (and count again).
    const own = fh === undefined ? undefined : this.tree.files.get(fh);
    const orphan = own?.orphaned === true;
    const size = attrs.size;
    const cut = size === undefined ? [] : own && orphan ? [own] : this.tree.files.ofPath(path);
    if (size !== undefined) for (const file of cut) file.truncated(size);
    const remote = this.tree.remote(path);
    const behind = Object.keys(attrs).every((name) => CHANGES_BEHIND.has(name))
      ? (own ? [own] : this.tree.files.ofPath(path)).find((f) => f.takesChangesBehind)
      : undefined;
    // Where the server speaks kmx's extension, the attributes after the change ride along with
    // it (the server answers in order): the engine asks for them next, and they are the truth
    // (ctime, the server's clock, what a chown cleared).
    const withStat = async (s: SftpSession, change: Promise<void>, stat: () => Promise<Stats>): Promise<Stats | undefined> => {
      if (!s.kmxPosix) return change.then(() => undefined);
      const [, stats] = await Promise.all([change, stat()]);
      return stats;
    };
    let after: Stats | undefined;
    if (behind) {
      behind.changeBehind(attrs);
    } else if (own) {
      after = await own.withHandle(true, (s, handle) => withStat(s, s.fsetstat(handle, attrs, remote), () => s.fstat(handle, remote)));
    } else {
      await this.tree.sendQueued(path);
      const current = this.tree.cache.lookup(path);
      const isLink = current ? (current.mode & S_IFMT) === S_IFLNK : false;
      after = await this.tree.changing(path, () => this.tree.run(true, async (s) => {
        if (!isLink) return withStat(s, s.setstat(remote, attrs), () => s.lstat(remote));
        // A symlink's own mode and times: lsetstat where the server has it, else nothing to do.
        if (s.hasExtension('lsetstat@openssh.com')) return withStat(s, s.lsetstat(remote, attrs), () => s.lstat(remote));
        return undefined;
      }));
    }
    for (const file of cut) file.invalidate(); // what was read ahead may be gone now
    // The engine asks for the attributes right after a change: answer from what we know
    // (not for an orphan, whose old path may be another file's now).
    if (orphan) return;
    if (after) {
      const attr = this.tree.attr(after);
      if (own) attr.size = Math.max(attr.size, own.pendingSize);
      this.tree.cache.setAttr(path, attr);
      return;
    }
    const before = this.tree.cache.lookup(path);
    if (!before) {
      this.tree.cache.changed(path);
      return;
    }
    const next: Attr = { ...before, ...local, mode: local.mode === undefined ? before.mode : (before.mode & S_IFMT) | local.mode };
    if (size !== undefined) {
      next.blocks = estimatedBlocks(size);
      if (local.mtime === undefined) next.mtime = this.tree.now(); // a truncate moves the mtime
    }
    // SFTP v3 has no ctime: it is the mtime there (as sshfs shows it); with kmx's extension, now.
    next.ctime = fromV3(next) ? next.mtime : this.tree.now();
    this.tree.cache.setAttr(path, next);
  }
}

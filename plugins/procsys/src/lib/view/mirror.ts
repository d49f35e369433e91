import * as fs from 'node:fs';
import { SysError, type Attr, type Caller, type DirEntry, type FileSystem, type OpenReply, type StatFs } from '@kmx/core';
import { LocalProc } from '../proc/local-proc.js';
import { Callers, REAL_PROC_IN_RUN, isMagicPath, unreachableTarget } from './callers.js';
import { Handles } from './handles.js';

/** Files whose reads wait for data: served from the thread pool, not the event loop. */
const BLOCKING = new Set(['/kmsg']);
const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_TRUNC | fs.constants.O_APPEND | fs.constants.O_CREAT;

export interface MirrorOptions {
  /** Pass writes through (to /proc/sys, say); otherwise every write is EROFS. */
  writable?: boolean;
}

/**
 * One host's /proc as a FUSE filesystem, answered in place: attributes from lstat (never
 * from reading contents, so `ls -l` and `find` stay cheap), reads through the real file,
 * and the links that depend on who asks (`self`, `thread-self`, and through `self` also
 * `net`) resolved for the calling process, not for this server.
 */
export class ProcMirror implements FileSystem {
  constructor(
    readonly proc: LocalProc = new LocalProc(),
    private readonly callers: Callers = new Callers(proc.root),
    private readonly options: MirrorOptions = {},
    readonly handles: Handles = new Handles(),
  ) {}

  /** Called once the mount has ended: the view's other resources (channels, an agent) go with it. */
  readonly onDestroy: Array<() => unknown> = [];

  destroy(): void {
    this.handles.closeAll();
    for (const cleanup of this.onDestroy.splice(0)) cleanup();
  }

  getattr(path: string): Attr {
    return this.proc.lstat(path);
  }

  readlink(path: string, caller: Caller): string {
    return this.linkFor(path, caller);
  }

  /** The text of link `path` as the caller would read it from its own /proc. */
  linkFor(path: string, caller: Caller, pidPrefix = ''): string {
    if (path === '/self') return pidPrefix + String(this.callers.processOf(caller.pid));
    if (path === '/thread-self') return `${pidPrefix}${this.callers.processOf(caller.pid)}/task/${caller.pid}`;
    const target = this.proc.readlink(path);
    const parts = path.split('/');
    if (isMagicPath(parts) && unreachableTarget(target) && this.callers.inRunNamespace(caller.pid)) return REAL_PROC_IN_RUN + path;
    return target;
  }

  readdir(path: string): DirEntry[] {
    return this.proc.list(path);
  }

  open(path: string, flags: number): OpenReply {
    if (flags & WRITE_FLAGS && !this.options.writable) throw SysError.of('EROFS', 'open', path, { detail: 'mounted without --writable' });
    const fd = this.proc.open(path, flags & ~(fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOCTTY));
    return { fh: this.handles.add({ kind: 'fd', fd, blocking: BLOCKING.has(path) }), directIo: true };
  }

  read(_path: string, fh: number, buffer: Buffer, position: number): number | Promise<number> {
    return this.handles.read(fh, buffer, position);
  }

  write(path: string, fh: number, data: Buffer, position: number): number | Promise<number> {
    if (!this.options.writable) throw SysError.of('EROFS', 'write', path);
    return this.handles.write(fh, data, position);
  }

  truncate(path: string, size: number): void {
    // `echo 1 > file` truncates before writing; /proc/sys takes that as a no-op.
    if (!this.options.writable) throw SysError.of('EROFS', 'truncate', path);
    fs.truncateSync(this.proc.real(path), size);
  }

  release(_path: string, fh: number): void {
    this.handles.release(fh);
  }

  statfs(): StatFs {
    const s = fs.statfsSync(this.proc.root);
    return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namemax: 255 };
  }
}

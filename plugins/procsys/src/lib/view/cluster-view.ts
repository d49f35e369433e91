import * as fs from 'node:fs';
import { SysError, type Attr, type Caller, type DirEntry, type FileSystem, type MaybePromise, type OpenReply, type StatFs } from '@kmx/core';
import type { Cluster } from '../cluster/cluster.js';
import type { Host } from '../cluster/host.js';
import { RemoteHost } from '../cluster/remote-host.js';
import { decodePid, encodePid, parsePidName, rewriteStat, rewriteStatus } from '../merge/pid-space.js';
import { MERGED_FILES, type HostText } from '../merge/rules.js';
import type { Callers } from './callers.js';
import type { ProcMirror } from './mirror.js';

const USER_HZ = 100;
const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_TRUNC | fs.constants.O_APPEND;

/** `change` applied to a value, or to a promise's value: what is already here stays synchronous. */
function then<T, U>(value: MaybePromise<T>, change: (value: T) => U): MaybePromise<U> {
  return value instanceof Promise ? value.then(change) : change(value);
}

/** Where a view path leads. */
type Route =
  | { kind: 'root' | 'hosts' | 'status' | 'net' | 'self' | 'thread-self' }
  | { kind: 'merged' | 'local'; path: string }
  /** /hosts/NAME/…: that host's whole /proc, its own pids. */
  | { kind: 'host'; host: Host; path: string }
  /** /PID/… of a merged pid: the host's /PID/… (path in the host's own pids). */
  | { kind: 'process'; host: Host; path: string };

const PER_PROCESS_REWRITTEN = /^\/\d+(\/task\/\d+)?\/(stat|status)$/;
const TASK_DIR = /^\/\d+\/task$/;

/**
 * The merged view of several hosts (docs/procsys.md, "Merge rules"):
 * - `/hosts/NAME/…`: each host's whole /proc;
 * - `/loadavg`, `/uptime`, `/meminfo`, `/stat`, `/cpuinfo` and `/net/{dev,route,arp,tcp,tcp6,udp,udp6}`: merged;
 * - `/PID`: every host's processes, host slot k owning pids k·2^22 + pid;
 * - `/status`: each host's state; everything else: this host's own file.
 * Reads ask only hosts that are not down, each within the read timeout, and answer with
 * those that answered.
 */
export class ClusterView implements FileSystem {
  constructor(private readonly cluster: Cluster, private readonly mirror: ProcMirror, private readonly callers: Callers, private readonly writable: boolean) {}

  destroy(): void {
    this.mirror.destroy();
  }

  private route(path: string): Route {
    if (path === '/') return { kind: 'root' };
    const slash = path.indexOf('/', 1);
    const first = slash < 0 ? path.slice(1) : path.slice(1, slash);
    const rest = slash < 0 ? '' : path.slice(slash);
    if (first === 'hosts') {
      if (rest === '') return { kind: 'hosts' };
      const next = rest.indexOf('/', 1);
      const name = next < 0 ? rest.slice(1) : rest.slice(1, next);
      const host = this.cluster.byName(name);
      if (!host) throw SysError.of('ENOENT', 'lookup', path);
      return { kind: 'host', host, path: next < 0 ? '/' : rest.slice(next) };
    }
    if (path === '/status') return { kind: 'status' };
    if (path === '/self' || path === '/thread-self') return { kind: path.slice(1) as 'self' | 'thread-self' };
    if (path === '/net') return { kind: 'net' };
    if (MERGED_FILES.has(path)) return { kind: 'merged', path };
    const merged = parsePidName(first);
    if (merged !== undefined) {
      const { slot, pid } = decodePid(merged);
      const host = this.cluster.bySlot(slot);
      if (!host || pid === 0) throw SysError.of('ENOENT', 'lookup', path);
      return { kind: 'process', host, path: `/${pid}${this.hostTaskPath(rest, slot, path)}` };
    }
    return { kind: 'local', path };
  }

  /** `/task/TID/…` with TID back in the host's own numbers (a tid from another slot is ENOENT). */
  private hostTaskPath(rest: string, slot: number, path: string): string {
    const match = /^\/task\/(\d+)(\/.*)?$/.exec(rest);
    if (!match) return rest;
    const tid = decodePid(Number(match[1]));
    if (tid.slot !== slot || tid.pid === 0) throw SysError.of('ENOENT', 'lookup', path);
    return `/task/${tid.pid}${match[2] ?? ''}`;
  }

  private dirAttr(): Attr {
    const attr = this.cluster.local.stat('/');
    return { ...attr, mode: 0o40555, nlink: 2, ino: undefined };
  }

  getattr(path: string): MaybePromise<Attr> {
    const route = this.route(path);
    switch (route.kind) {
      case 'root': return this.cluster.local.stat('/');
      case 'hosts': return this.dirAttr();
      case 'status': return { ...this.cluster.local.stat('/version'), mode: 0o100444, size: 0 };
      case 'net': return this.cluster.local.stat('/net', true);
      case 'self': case 'thread-self': return this.cluster.local.stat(path);
      case 'merged': return this.cluster.local.stat(path);
      case 'local': return this.mirror.getattr(path);
      case 'host':
        if (route.host.local) return this.mirror.getattr(route.path);
        if (route.path === '/self' || route.path === '/thread-self') throw SysError.of('ENOENT', 'lookup', path, { detail: 'no self on another host' });
        return route.host.stat(route.path, route.path === '/net');
      case 'process':
        return route.host.stat(route.path);
    }
  }

  readlink(path: string, caller: Caller): MaybePromise<string> {
    const route = this.route(path);
    const local = this.cluster.local;
    switch (route.kind) {
      case 'self': return String(encodePid(local.slot, this.callers.processOf(caller.pid)));
      case 'thread-self': return `${encodePid(local.slot, this.callers.processOf(caller.pid))}/task/${encodePid(local.slot, caller.pid)}`;
      case 'local': return this.mirror.readlink(path, caller);
      case 'host': return route.host.local ? this.mirror.readlink(route.path, caller) : route.host.readlink(route.path);
      case 'process': return route.host.local ? this.mirror.linkFor(route.path, caller) : route.host.readlink(route.path);
      default: throw SysError.of('EINVAL', 'readlink', path);
    }
  }

  readdir(path: string): MaybePromise<DirEntry[]> {
    const route = this.route(path);
    switch (route.kind) {
      case 'root': return this.rootEntries();
      case 'hosts': return this.cluster.hosts.map((h) => ({ name: h.name, attr: this.dirAttr() }));
      case 'net': return this.mirror.readdir('/net');
      case 'local': return this.mirror.readdir(path);
      case 'host':
        if (route.host.local) return this.mirror.readdir(route.path);
        return Promise.resolve(route.host.list(route.path)).then((entries) => (route.path === '/' ? this.remoteRoot(entries) : entries));
      case 'process': {
        if (!TASK_DIR.test(route.path)) return route.host.list(route.path);
        const merge = (entries: DirEntry[]): DirEntry[] => entries.map((e) => ({ ...e, name: String(encodePid(route.host.slot, Number(e.name))) }));
        return then(route.host.list(route.path), merge);
      }
      default: throw SysError.of('ENOTDIR', 'opendir', path);
    }
  }

  /** A remote host's /proc top level: no `self` (it would name the agent), `net` as the directory it leads to. */
  private remoteRoot(entries: DirEntry[]): DirEntry[] {
    const dir = this.dirAttr();
    return entries.filter((e) => e.name !== 'self' && e.name !== 'thread-self').map((e) => (e.name === 'net' ? { name: 'net', attr: dir } : e));
  }

  private async rootEntries(): Promise<DirEntry[]> {
    const local = this.cluster.local;
    const own = local.list('/').filter((e) => parsePidName(e.name) === undefined);
    const entries: DirEntry[] = own.map((e) => (e.name === 'net' ? { name: 'net', attr: local.stat('/net', true) } : e));
    entries.push({ name: 'hosts', attr: this.dirAttr() }, { name: 'status', attr: { ...local.stat('/version'), mode: 0o100444, size: 0 } });
    const listings = await Promise.all(this.cluster.reachable().map(async (host) => {
      try {
        return { host, entries: await host.list('/') };
      } catch {
        return { host, entries: [] };
      }
    }));
    for (const { host, entries: hostEntries } of listings) if (host instanceof RemoteHost) host.warmProcessTable(hostEntries);
    for (const { host, entries: hostEntries } of listings) {
      for (const e of hostEntries) {
        if (/^\d+$/.test(e.name)) entries.push({ name: String(encodePid(host.slot, Number(e.name))), ...(e.attr ? { attr: { ...e.attr, ino: undefined } } : {}) });
      }
    }
    return entries;
  }

  open(path: string, flags: number): MaybePromise<OpenReply> {
    const route = this.route(path);
    const writing = (flags & WRITE_FLAGS) !== 0;
    if (writing && !this.writable) throw SysError.of('EROFS', 'open', path, { detail: 'mounted without --writable' });
    const snapshot = (data: MaybePromise<Buffer>): MaybePromise<OpenReply> => {
      if (writing) throw SysError.of('EACCES', 'open', path, { detail: 'a merged file cannot be written' });
      return then(data, (buffer): OpenReply => ({ fh: this.mirror.handles.add({ kind: 'snapshot', data: buffer }), directIo: true }));
    };
    switch (route.kind) {
      case 'status': return snapshot(Buffer.from(this.cluster.statusText()));
      case 'merged': return snapshot(this.merged(route.path));
      case 'local': return this.mirror.open(path, flags);
      case 'host': return this.openOnHost(route.host, route.path, flags, writing, snapshot);
      case 'process': {
        const host = route.host;
        const shift = (host.bootTime - this.cluster.bootTime()) * USER_HZ;
        if (PER_PROCESS_REWRITTEN.test(route.path) && (host.slot !== 0 || shift !== 0)) {
          return snapshot(then(host.readFile(route.path), (data) => {
            const text = data.toString('latin1');
            return Buffer.from(route.path.endsWith('/stat') ? rewriteStat(text, host.slot, shift) : rewriteStatus(text, host.slot), 'latin1');
          }));
        }
        return this.openOnHost(host, route.path, flags, writing, snapshot);
      }
      default: throw SysError.of('EISDIR', 'open', path);
    }
  }

  private openOnHost(host: Host, path: string, flags: number, writing: boolean, snapshot: (data: MaybePromise<Buffer>) => MaybePromise<OpenReply>): MaybePromise<OpenReply> {
    if (host.local) return this.mirror.open(path, flags);
    if (writing && host instanceof RemoteHost) {
      return { fh: this.mirror.handles.add({ kind: 'remote-write', write: (offset, data) => host.write(path, offset, data) }), directIo: true };
    }
    return snapshot(host.readFile(path));
  }

  /** A merged file: every reachable host's copy (those that answer in time), merged by its rule. */
  private async merged(path: string): Promise<Buffer> {
    const merge = MERGED_FILES.get(path)!;
    const copies = await Promise.all(this.cluster.reachable().map(async (host): Promise<HostText | undefined> => {
      try {
        return { name: host.name, slot: host.slot, local: host.local, text: (await host.readFile(path)).toString('latin1') };
      } catch {
        return undefined;
      }
    }));
    return Buffer.from(merge(copies.filter((c): c is HostText => c !== undefined), { bootTime: this.cluster.bootTime() }), 'latin1');
  }

  read(path: string, fh: number, buffer: Buffer, position: number): MaybePromise<number> {
    return this.mirror.read(path, fh, buffer, position);
  }

  write(path: string, fh: number, data: Buffer, position: number): MaybePromise<number> {
    return this.mirror.write(path, fh, data, position);
  }

  truncate(path: string, size: number): void {
    const route = this.route(path);
    if (route.kind === 'local') return this.mirror.truncate(path, size);
    if (route.kind === 'host' && route.host.local) return this.mirror.truncate(route.path, size);
    if (!this.writable) throw SysError.of('EROFS', 'truncate', path);
    // Remote /proc/sys files take a write in place; truncating them is a no-op there too.
  }

  release(path: string, fh: number): void {
    this.mirror.release(path, fh);
  }

  statfs(): StatFs {
    return this.mirror.statfs();
  }
}

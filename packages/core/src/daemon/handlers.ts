import { closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { SysError } from '../errors/index.js';
import { parseMountinfo } from '../mount/mountinfo.js';
import type { HelperOptions } from '../mount/nshelper.js';
import { mountPinned, symlinkAsUser, unlinkAsUser, unmountPinned } from '../mount/pinned.js';
import type { DaemonLog } from './log.js';
import type { MediaRoot } from './media.js';
import { nfsMountSpec, optionString, type NfsVersion } from './nfs.js';
import type { Peer } from './peer.js';
import { checkExportPath, checkLinkPath, checkMountName, checkNfsOptions, checkServer, checkTmpfsSize } from './policy.js';
import { kmxd, PROTOCOL_VERSION, type MountEntryMessage, type Request } from './protocol.js';
import { MountRecords, type MountRecord } from './records.js';

// One handler per request kind. Each acts for the peer the socket named, on its own records.

/** What a handler mounts: the fs type is fixed by the request kind, never taken from the request. */
interface PinnedSpec {
  fstype: string;
  source: string;
  options: Array<[string, string | true]>;
  attributes: number;
}

type Reply = Omit<kmxd.Response.$Properties, 'id'>;

const VERSIONS: Record<number, NfsVersion> = {
  [kmxd.NfsVersion.NFS_VERSION_UNSPECIFIED]: '4.2', [kmxd.NfsVersion.NFS_V3]: '3',
  [kmxd.NfsVersion.NFS_V4_0]: '4.0', [kmxd.NfsVersion.NFS_V4_1]: '4.1', [kmxd.NfsVersion.NFS_V4_2]: '4.2',
};

// A mount that talks to a server may take a while (the kernel retries); the helper is killed after this.
const MOUNT_TIMEOUT_MS = 60_000;

function entry(record: MountRecord): MountEntryMessage {
  return {
    id: record.id, name: record.name, kind: record.kind, source: record.source, path: record.path,
    options: record.options, link: record.linkPath, createdAt: record.createdAt,
  };
}

export interface HandlerContext {
  media: MediaRoot;
  records: MountRecords;
  log: DaemonLog;
  helper: HelperOptions;
}

export class RequestHandlers {
  constructor(private readonly ctx: HandlerContext) {}

  async handle(peer: Peer, request: Request): Promise<Reply> {
    switch (request.body) {
      case 'ping':
        return { pong: { version: PROTOCOL_VERSION, uid: peer.uid, user: peer.user.name } };
      case 'list':
        return { mounts: { mounts: this.ctx.records.ofUser(peer.uid).map(entry) } };
      case 'mountNfs':
        return this.mountNfs(peer, request.mountNfs!);
      case 'mountTmpfs':
        return this.mountTmpfs(peer, request.mountTmpfs!);
      case 'unmount':
        return this.unmount(peer, request.unmount!);
      default:
        throw SysError.of('EINVAL', 'request', undefined, { detail: 'the request names no kind this kmxd knows' });
    }
  }

  private async mountNfs(peer: Peer, m: kmxd.MountNfs.$Properties): Promise<Reply> {
    const name = checkMountName(m.name ?? '');
    const link = m.link ? checkLinkPath(m.link) : '';
    const version = VERSIONS[m.version ?? 0];
    if (!version) throw SysError.of('EINVAL', 'version', undefined, { detail: 'unknown NFS version' });
    const port = m.port ?? 0;
    const mountPort = m.mountPort ?? 0;
    if (port > 65535 || mountPort > 65535) throw SysError.of('EINVAL', 'port', undefined, { detail: 'ports are 1 to 65535' });
    const spec = await nfsMountSpec({
      server: checkServer(m.server ?? ''), exportPath: checkExportPath(m.exportPath ?? ''), version,
      readOnly: m.readOnly === true, port, mountPort, checked: checkNfsOptions(m.options ?? []),
    });
    return this.mount(peer, 'nfs', name, link, spec, `${m.server ?? ''}:${m.exportPath ?? ''}`);
  }

  private async mountTmpfs(peer: Peer, m: kmxd.MountTmpfs.$Properties): Promise<Reply> {
    const name = checkMountName(m.name ?? '');
    const link = m.link ? checkLinkPath(m.link) : '';
    const size = checkTmpfsSize(m.sizeMib ?? 0);
    const spec: PinnedSpec = {
      fstype: 'tmpfs',
      source: 'kmxd-tmpfs',
      options: [['size', `${size}m`], ['mode', '0700'], ['uid', String(peer.uid)], ['gid', String(peer.gid)]],
      attributes: m.readOnly ? 1 : 0,
    };
    return this.mount(peer, 'tmpfs', name, link, spec, 'tmpfs');
  }

  /** mkdirat + pin, mount in the caller's namespace, record, link as the user; undone on any failure. */
  private async mount(peer: Peer, kind: MountRecord['kind'], name: string, link: string, spec: PinnedSpec, shownSource: string): Promise<Reply> {
    const { media, records, log } = this.ctx;
    const user = { uid: peer.uid, name: peer.user.name };
    const path = `${media.userPath(user)}/${name}`;
    const pinned = media.createMountDir(user, name);
    let mountId: bigint;
    try {
      mountId = await mountPinned(peer, { path, pinnedFd: pinned, ...spec }, { ...this.ctx.helper, timeoutMs: MOUNT_TIMEOUT_MS });
    } catch (err) {
      media.removeMountDir(user, name);
      throw err;
    } finally {
      closeSync(pinned);
    }
    const record: MountRecord = {
      id: MountRecords.newId(), uid: peer.uid, user: peer.user.name, name, kind, source: kind === 'tmpfs' ? 'tmpfs' : shownSource, path,
      mountId: mountId.toString(), options: optionString(spec.options), link, linkPath: link ? `${peer.user.home.replace(/\/+$/, '')}/${link}` : '',
      createdAt: new Date().toISOString(),
    };
    records.add(record);
    log.info(peer.label, `mounted ${kind} ${record.source} on ${path} (${record.options}; mount id ${record.mountId})`);
    if (link) {
      try {
        await symlinkAsUser(peer, this.identity(peer), link, path, this.ctx.helper);
        log.info(peer.label, `linked ~/${link} -> ${path}`);
      } catch (err) {
        log.warn(peer.label, `link ~/${link} refused (${err instanceof Error ? err.message : String(err)}); undoing the mount`);
        await this.remove(peer, record, false).catch(() => undefined);
        throw err;
      }
    }
    return { mounted: { mount: entry(record) } };
  }

  private identity(peer: Peer): { uid: number; gid: number; home: string } {
    return { uid: peer.uid, gid: peer.user.gid, home: peer.user.home };
  }

  private async unmount(peer: Peer, u: kmxd.Unmount.$Properties): Promise<Reply> {
    const record = this.ctx.records.get(u.id ?? '');
    // Someone else's id gets the same answer as an unknown one: ids are not an oracle.
    if (!record || record.uid !== peer.uid) throw SysError.of('ENOENT', 'unmount', undefined, { detail: 'no mount of yours has that id' });
    const unlinked = await this.remove(peer, record, u.unlink === true);
    return { unmounted: { mount: entry(record), unlinked } };
  }

  /** Unmounts a record's mount (or finds it already gone), removes its dir and record; optionally its link. */
  private async remove(peer: Peer, record: MountRecord, unlink: boolean): Promise<boolean> {
    const { media, records, log } = this.ctx;
    const user = { uid: peer.uid, name: peer.user.name };
    try {
      await unmountPinned(peer, record.path, media.userDir(user), BigInt(record.mountId), {}, { ...this.ctx.helper, timeoutMs: MOUNT_TIMEOUT_MS });
    } catch (err) {
      if (!(err instanceof SysError && (err.code === 'ESTALE' || err.code === 'ENOENT')) || (await this.stillMounted(peer, record))) throw err;
      log.info(peer.label, `mount ${record.path} was already gone`);
    }
    media.removeMountDir(user, record.name);
    records.remove(record.id);
    log.info(peer.label, `unmounted ${record.path}`);
    if (!unlink || !record.link) return false;
    try {
      await unlinkAsUser(peer, this.identity(peer), record.link, [record.path], this.ctx.helper);
      log.info(peer.label, `unlinked ~/${record.link}`);
      return true;
    } catch (err) {
      log.warn(peer.label, `unlink ~/${record.link} refused: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /** Whether the record's mount id is still in the caller's mount table. */
  private async stillMounted(peer: Peer, record: MountRecord): Promise<boolean> {
    const text = await readFile(`/proc/${peer.pid}/mountinfo`, 'utf8').catch(() => '');
    return parseMountinfo(text).some((m) => String(m.mountId) === record.mountId);
  }
}

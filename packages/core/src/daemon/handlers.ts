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
import { checkPortsAllowed, checkServerAllowed, checkSmbPortAllowed, DEFAULT_CONFIG_PATH, type DaemonPolicy } from './config.js';
import { checkExportPath, checkLinkPath, checkMountName, checkNfsOptions, checkServer, checkTmpfsSize } from './policy.js';
import { kmxd, PROTOCOL_VERSION, type MountEntryMessage, type Request } from './protocol.js';
import { MountRecords, type MountRecord } from './records.js';
import { checkCredentialField, checkPassword, checkShare, checkSharePath, checkSmbOptions, smbMountSpec, type SmbVersion } from './smb.js';

// One handler per request kind. Each acts for the peer the socket named, on its own records.

/** What a handler mounts: the fs type is fixed by the request kind, never taken from the request. */
interface PinnedSpec {
  fstype: string;
  source: string;
  options: Array<[string, string | true]>;
  attributes: number;
  /** A password: to the kernel once, through the helper's stdin; in no record or log. */
  secret?: { key: string; value: Buffer };
}

type Reply = Omit<kmxd.Response.$Properties, 'id'>;

const VERSIONS: Record<number, NfsVersion> = {
  [kmxd.NfsVersion.NFS_VERSION_UNSPECIFIED]: '4.2', [kmxd.NfsVersion.NFS_V3]: '3',
  [kmxd.NfsVersion.NFS_V4_0]: '4.0', [kmxd.NfsVersion.NFS_V4_1]: '4.1', [kmxd.NfsVersion.NFS_V4_2]: '4.2',
};

const SMB_VERSIONS: Record<number, SmbVersion> = {
  [kmxd.SmbVersion.SMB_VERSION_UNSPECIFIED]: 'default', [kmxd.SmbVersion.SMB_V2_1]: '2.1',
  [kmxd.SmbVersion.SMB_V3_0]: '3.0', [kmxd.SmbVersion.SMB_V3_1_1]: '3.1.1',
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
  policy: DaemonPolicy;
}

/** A tmpfs record's size in MiB (records written before sizes were kept carry it in their options). */
const tmpfsMib = (record: MountRecord): number => record.kind !== 'tmpfs' ? 0 : record.sizeMib ?? Number(/(?:^|,)size=(\d+)m/.exec(record.options)?.[1] ?? 0);

export class RequestHandlers {
  /** Mounts under way, per uid: they count against the budget before their records exist. */
  private readonly underWay = new Map<number, { mounts: number; tmpfsMib: number }>();

  constructor(private readonly ctx: HandlerContext) {}

  /**
   * Takes a mount (and `mib` of tmpfs) out of the user's budget, or refuses with EDQUOT; the
   * returned function gives it back once the mount is recorded or has failed.
   */
  private reserve(peer: Peer, mib: number): () => void {
    const { policy, records } = this.ctx;
    const mine = records.ofUser(peer.uid);
    const pending = this.underWay.get(peer.uid) ?? { mounts: 0, tmpfsMib: 0 };
    if (mine.length + pending.mounts >= policy.maxMountsPerUser) {
      throw SysError.of('EDQUOT', 'mount', undefined, { detail: `${peer.user.name} has ${mine.length + pending.mounts} mounts, the most kmxd allows one user (max-mounts-per-user in ${DEFAULT_CONFIG_PATH})` });
    }
    const used = mine.reduce((sum, r) => sum + tmpfsMib(r), 0) + pending.tmpfsMib;
    if (mib > 0 && used + mib > policy.maxTmpfsMibPerUser) {
      throw SysError.of('EDQUOT', 'mount', undefined, { detail: `${used} MiB of tmpfs in use and ${mib} more asked: one user may have ${policy.maxTmpfsMibPerUser} MiB (max-tmpfs-mib-per-user in ${DEFAULT_CONFIG_PATH})` });
    }
    this.underWay.set(peer.uid, { mounts: pending.mounts + 1, tmpfsMib: pending.tmpfsMib + mib });
    return () => {
      const now = this.underWay.get(peer.uid) ?? { mounts: 1, tmpfsMib: mib };
      if (now.mounts <= 1) this.underWay.delete(peer.uid);
      else this.underWay.set(peer.uid, { mounts: now.mounts - 1, tmpfsMib: now.tmpfsMib - mib });
    };
  }

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
      case 'mountSmb':
        return this.mountSmb(peer, request.mountSmb!);
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
    const server = checkServer(m.server ?? '');
    const exportPath = checkExportPath(m.exportPath ?? '');
    const checked = checkNfsOptions(m.options ?? []);
    checkPortsAllowed(this.ctx.policy, port, mountPort);
    const release = this.reserve(peer, 0);
    try {
      const spec = await nfsMountSpec({
        server, exportPath, version, readOnly: m.readOnly === true, port, mountPort, checked,
        checkAddress: (address) => checkServerAllowed(this.ctx.policy, server, address),
      });
      return await this.mount(peer, 'nfs', name, link, spec, `${server}:${exportPath}`);
    } finally {
      release();
    }
  }

  private async mountSmb(peer: Peer, m: kmxd.MountSmb.$Properties): Promise<Reply> {
    const password = Buffer.from(m.password ?? []);
    try {
      const name = checkMountName(m.name ?? '');
      const link = m.link ? checkLinkPath(m.link) : '';
      const version = SMB_VERSIONS[m.version ?? 0];
      if (!version) throw SysError.of('EINVAL', 'version', undefined, { detail: 'unknown SMB version' });
      const port = m.port ?? 0;
      if (port > 65535) throw SysError.of('EINVAL', 'port', undefined, { detail: 'ports are 1 to 65535' });
      const server = checkServer(m.server ?? '');
      const share = checkShare(m.share ?? '');
      const path = checkSharePath(m.path ?? '');
      const user = checkCredentialField('user', m.user ?? '');
      const domain = checkCredentialField('domain', m.domain ?? '');
      const kerberos = m.kerberos === true;
      const secret = checkPassword(password, kerberos);
      const checked = checkSmbOptions(m.options ?? []);
      checkSmbPortAllowed(this.ctx.policy, port);
      const release = this.reserve(peer, 0);
      try {
        const spec = await smbMountSpec({
          server, share, path, version, readOnly: m.readOnly === true, port, user, domain, password: secret, kerberos, checked, uid: peer.uid, gid: peer.user.gid,
          checkAddress: (address) => checkServerAllowed(this.ctx.policy, server, address, 'smb'),
        });
        return await this.mount(peer, 'smb', name, link, spec, `//${server}/${share}${path}`);
      } finally {
        release();
      }
    } finally {
      password.fill(0);
      if (m.password instanceof Uint8Array) m.password.fill(0);
    }
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
    const release = this.reserve(peer, size);
    try {
      return await this.mount(peer, 'tmpfs', name, link, spec, 'tmpfs', size);
    } finally {
      release();
    }
  }

  /** mkdirat + pin, mount in the caller's namespace, record, link as the user; undone on any failure. */
  private async mount(peer: Peer, kind: MountRecord['kind'], name: string, link: string, spec: PinnedSpec, shownSource: string, sizeMib?: number): Promise<Reply> {
    const { media, records, log } = this.ctx;
    const user = { uid: peer.uid, name: peer.user.name };
    const path = `${media.userPath(user)}/${name}`;
    const pinned = media.createMountDir(user, name);
    let mountId: bigint;
    try {
      mountId = await mountPinned(peer, { path, pinnedFd: pinned, ...spec }, { ...this.ctx.helper, timeoutMs: MOUNT_TIMEOUT_MS });
    } catch (err) {
      media.removeMountDir(user, name);
      if (err instanceof SysError && err.syscall === 'mount_ns_owner') {
        throw SysError.of('EPERM', 'mount', undefined, { detail: 'your mount namespace belongs to a user namespace of its own (unshare -U), where nosuid and nodev could be taken off a mount: kmxd mounts only into mount namespaces of the initial user namespace' });
      }
      throw err;
    } finally {
      closeSync(pinned);
    }
    const record: MountRecord = {
      id: MountRecords.newId(), uid: peer.uid, user: peer.user.name, name, kind, source: kind === 'tmpfs' ? 'tmpfs' : shownSource, path,
      mountId: mountId.toString(), options: optionString(spec.options), link, linkPath: link ? `${peer.user.home.replace(/\/+$/, '')}/${link}` : '',
      createdAt: new Date().toISOString(), ...(sizeMib !== undefined ? { sizeMib } : {}),
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

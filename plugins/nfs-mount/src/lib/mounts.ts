import { readlink, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KmxError, UsageError, listKmxMounts, mountAt, processAlive, readMountinfo, unmountKmx, type KmxMount } from '@kmx/core';
import { DaemonUnavailableError, checkMountName, requestKmxd, type MountEntryMessage } from '@kmx/core/daemon';
import { forgetMount, removeMountpoint, savedMounts, type NetworkKind, type UserspaceMount } from './state.js';

// `kmx nfs|smb list` and `kmx nfs|smb umount`: kernel mounts from kmxd's registry (only the
// caller's), user-space ones from kmx's own records joined with the mount table. `kind` is the
// command's (nfs or smb): each lists and unmounts its own.

export interface NfsMountRow {
  name: string;
  source: string;
  mountpoint: string;
  mode: 'kernel' | 'userspace';
  /** kernel: the options kmxd passed; userspace: its state, NFS version and serving pid. */
  detail: string;
  link: string;
  /** kmxd's registry id (kernel mounts only). */
  id?: string;
  /**
   * User space: ok, down (the NFS server does not answer; the mount reconnects by itself),
   * stale (its serving process is gone) or unresponsive (the serving process does not answer).
   */
  state?: 'ok' | 'down' | 'stale' | 'unresponsive';
  /** User space: what the serving process says of its connection, e.g. "reconnecting: down since …". */
  status?: string;
}

/** A user-space mount's state: `kmx mounts`'s probe, corrected by the connection's own word. */
function userspaceState(mount: KmxMount): NonNullable<NfsMountRow['state']> {
  if (mount.state === 'stale') return mount.state;
  return mount.status?.startsWith('reconnecting') ? 'down' : mount.state; // a probe waits as long as an operation
}

/** A mount's name as kmxd would take it (nfs and smb alike), or a usage error in kmx's words. */
export function usableMountName(name: string): string {
  try {
    return checkMountName(name);
  } catch (err) {
    throw new UsageError(`bad mount name: ${err instanceof Error ? err.message.replace(/^name: [^:]+: /, '') : String(err)}`, 'a name is one path component of visible characters: no spaces, no control or format characters, no "," or "\\"');
  }
}

/** A mount of ours whose serving process is gone: the kernel answers ENOTCONN, nothing will serve it again. */
export function deadMount(mount: KmxMount): boolean {
  return mount.state === 'stale' || (mount.pid !== null && !processAlive(mount.pid));
}

/** The caller's kmxd mounts, or [] with `daemon: false` when kmxd is not running. */
async function kernelMounts(kind: NetworkKind): Promise<{ rows: NfsMountRow[]; daemon: boolean }> {
  try {
    const response = await requestKmxd({ list: {} }, { timeoutMs: 10_000 });
    const rows = (response.mounts?.mounts ?? []).filter((m: MountEntryMessage) => m.kind === kind).map((m: MountEntryMessage): NfsMountRow => ({
      name: m.name ?? '', source: m.source ?? '', mountpoint: m.path ?? '', mode: 'kernel', detail: m.options ?? '', link: m.link ?? '', id: m.id ?? '',
    }));
    return { rows, daemon: true };
  } catch (err) {
    if (err instanceof DaemonUnavailableError) return { rows: [], daemon: false };
    throw err;
  }
}

async function userspaceMounts(kind: NetworkKind): Promise<Array<NfsMountRow & { saved: UserspaceMount }>> {
  const live = new Map((await listKmxMounts()).filter((m) => m.plugin === kind).map((m) => [m.mountpoint, m]));
  return (await savedMounts(kind)).flatMap((saved) => {
    const mount = live.get(saved.mountpoint);
    if (!mount) return [];
    const state = userspaceState(mount);
    const status = mount.status ?? undefined;
    const detail = `${state}${status && status !== 'connected' ? ` (${status})` : ''}, ${kind === 'nfs' ? 'NFSv' : 'SMB '}${saved.version}, pid ${mount.pid ?? '?'}`;
    return [{ name: saved.name, source: saved.source, mountpoint: saved.mountpoint, mode: 'userspace' as const, detail, link: saved.link, state, ...(status ? { status } : {}), saved }];
  });
}

export async function listNfsMounts(kind: NetworkKind = 'nfs'): Promise<{ mounts: NfsMountRow[]; daemon: boolean }> {
  const [kernel, user] = await Promise.all([kernelMounts(kind), userspaceMounts(kind)]);
  return { mounts: [...kernel.rows, ...user.map(({ saved: _saved, ...row }) => row)], daemon: kernel.daemon };
}

function matches(row: { name: string; mountpoint: string; link: string }, target: string): boolean {
  const path = resolve(target);
  return row.name === target || row.mountpoint === path || (row.link !== '' && row.link === path);
}

/** Unmounts by name, mountpoint or link path; with `unlink`, also removes the link made with it. */
export async function unmountNfs(target: string, unlink: boolean, kind: NetworkKind = 'nfs'): Promise<{ row: NfsMountRow; unlinked: boolean }> {
  const kernel = await kernelMounts(kind);
  const k = kernel.rows.find((r) => matches(r, target));
  if (k) {
    const response = await requestKmxd({ unmount: { id: k.id ?? '', unlink } });
    return { row: k, unlinked: response.unmounted?.unlinked === true };
  }
  const u = (await userspaceMounts(kind)).find((r) => matches(r, target));
  if (!u) {
    // A user-space mount whose server died still shows in the table: allow its path too.
    const saved = (await savedMounts(kind)).find((s) => matches(s, target));
    if (!saved) throw new KmxError(`no ${kind.toUpperCase()} mount of yours is named or mounted at ${target}`, { hint: `kmx ${kind} list shows them` });
    await forgetMount(saved.name, kind);
    throw new KmxError(`${saved.mountpoint} (${saved.name}) is no longer mounted; forgot it`);
  }
  await unmountKmx(u.mountpoint, {});
  let unlinked = false;
  if (unlink && u.link) {
    // Only a link that still points at this mount: anything else the user put there stays.
    if ((await readlink(u.link).catch(() => '')) === u.mountpoint) {
      await rm(u.link, { force: true });
      unlinked = true;
    }
  }
  if (u.saved.createdMountpoint) await removeMountpoint(u.mountpoint);
  await forgetMount(u.name, kind);
  return { row: u, unlinked };
}

/**
 * Before a user-space mount named `name` on `mountpoint`: refuses (one line, nothing touched)
 * when that name or mountpoint is in use by a mount that lives, even one whose NFS server is
 * down (it reconnects by itself); clears a dead mount of ours (its serving process is gone) and
 * forgets records whose mount has ended. `note` tells the user what was cleared.
 */
export async function claimMount(name: string, mountpoint: string, note: (line: string) => void, kind: NetworkKind = 'nfs'): Promise<void> {
  const [mounts, saved] = await Promise.all([listKmxMounts(), savedMounts(kind)]);
  const nfsAt = (path: string): KmxMount | undefined => mounts.find((m) => m.mountpoint === path && m.plugin === kind);
  const refuse = (m: KmxMount, byName: boolean): never => {
    const owner = saved.find((s) => s.mountpoint === m.mountpoint)?.name;
    const down = m.status?.startsWith('reconnecting') ? `; its ${kind.toUpperCase()} server does not answer (${m.status})` : m.state === 'unresponsive' ? '; its serving process does not answer' : '';
    const what = byName ? `${name} is already mounted: ${m.source} on ${m.mountpoint}` : `${m.mountpoint} is already a kmx ${kind} mount (${m.source}${owner ? `, named ${owner}` : ''})`;
    throw new KmxError(`${what}, served by pid ${m.pid ?? '?'}${down}`, {
      hint: `${down ? 'it reconnects by itself once the server is back; or ' : ''}unmount it first (kmx ${kind} umount ${owner ?? m.mountpoint}), or choose another ${byName ? 'name' : 'mountpoint'}`,
    });
  };
  const clear = async (m: KmxMount): Promise<void> => {
    await unmountKmx(m.mountpoint, { lazy: true });
    note(`cleared a dead mount of ${m.source} on ${m.mountpoint} (its serving process had exited)`);
  };
  const record = saved.find((s) => s.name === name);
  if (record) {
    const m = nfsAt(record.mountpoint);
    if (m && !deadMount(m)) refuse(m, true);
    if (m) await clear(m);
    // Ended without being unmounted through kmx (killed, say): only its record and directory are left.
    if (record.createdMountpoint) await removeMountpoint(record.mountpoint);
    await forgetMount(name, kind);
  }
  const here = mountAt(await readMountinfo(), mountpoint);
  if (!here) return;
  const m = nfsAt(mountpoint);
  if (m === undefined) {
    throw new KmxError(`${mountpoint} is already a mount point (${here.fstype} from ${here.source})`, { hint: 'unmount it first, or choose another mountpoint (or name)' });
  }
  if (!deadMount(m)) refuse(m, false);
  await clear(m);
}

import { readlink, rm, rmdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KmxError, listKmxMounts, unmountKmx } from '@kmx/core';
import { DaemonUnavailableError, requestKmxd, type MountEntryMessage } from '@kmx/core/daemon';
import { forgetMount, savedMounts, type UserspaceMount } from './state.js';

// `kmx nfs list` and `kmx nfs umount`: kernel mounts from kmxd's registry (only the caller's),
// user-space ones from kmx's own records joined with the mount table.

export interface NfsMountRow {
  name: string;
  source: string;
  mountpoint: string;
  mode: 'kernel' | 'userspace';
  /** kernel: the options kmxd passed; userspace: ok, stale or unresponsive. */
  detail: string;
  link: string;
  /** kmxd's registry id (kernel mounts only). */
  id?: string;
}

/** The caller's kmxd mounts, or [] with `daemon: false` when kmxd is not running. */
async function kernelMounts(): Promise<{ rows: NfsMountRow[]; daemon: boolean }> {
  try {
    const response = await requestKmxd({ list: {} }, { timeoutMs: 10_000 });
    const rows = (response.mounts?.mounts ?? []).filter((m: MountEntryMessage) => m.kind === 'nfs').map((m: MountEntryMessage): NfsMountRow => ({
      name: m.name ?? '', source: m.source ?? '', mountpoint: m.path ?? '', mode: 'kernel', detail: m.options ?? '', link: m.link ?? '', id: m.id ?? '',
    }));
    return { rows, daemon: true };
  } catch (err) {
    if (err instanceof DaemonUnavailableError) return { rows: [], daemon: false };
    throw err;
  }
}

async function userspaceMounts(): Promise<Array<NfsMountRow & { saved: UserspaceMount }>> {
  const live = new Map((await listKmxMounts()).filter((m) => m.plugin === 'nfs').map((m) => [m.mountpoint, m]));
  return (await savedMounts()).flatMap((saved) => {
    const mount = live.get(saved.mountpoint);
    if (!mount) return [];
    return [{ name: saved.name, source: saved.source, mountpoint: saved.mountpoint, mode: 'userspace' as const, detail: `${mount.state}, NFSv${saved.version}, pid ${mount.pid ?? '?'}`, link: saved.link, saved }];
  });
}

export async function listNfsMounts(): Promise<{ mounts: NfsMountRow[]; daemon: boolean }> {
  const [kernel, user] = await Promise.all([kernelMounts(), userspaceMounts()]);
  return { mounts: [...kernel.rows, ...user.map(({ saved: _saved, ...row }) => row)], daemon: kernel.daemon };
}

function matches(row: { name: string; mountpoint: string; link: string }, target: string): boolean {
  const path = resolve(target);
  return row.name === target || row.mountpoint === path || (row.link !== '' && row.link === path);
}

/** Unmounts by name, mountpoint or link path; with `unlink`, also removes the link made with it. */
export async function unmountNfs(target: string, unlink: boolean): Promise<{ row: NfsMountRow; unlinked: boolean }> {
  const kernel = await kernelMounts();
  const k = kernel.rows.find((r) => matches(r, target));
  if (k) {
    const response = await requestKmxd({ unmount: { id: k.id ?? '', unlink } });
    return { row: k, unlinked: response.unmounted?.unlinked === true };
  }
  const u = (await userspaceMounts()).find((r) => matches(r, target));
  if (!u) {
    // A user-space mount whose server died still shows in the table: allow its path too.
    const saved = (await savedMounts()).find((s) => matches(s, target));
    if (!saved) throw new KmxError(`no NFS mount of yours is named or mounted at ${target}`, { hint: 'kmx nfs list shows them' });
    await forgetMount(saved.name);
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
  if (u.saved.createdMountpoint) await rmdir(u.mountpoint).catch(() => undefined);
  await forgetMount(u.name);
  return { row: u, unlinked };
}

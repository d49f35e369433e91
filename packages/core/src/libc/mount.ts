import { AT_FDCWD, FSCONFIG_CMD_CREATE, FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, STATX_MNT_ID } from './constants.js';
import { cfn, check, cstruct, koffi } from './library.js';
import { SysError } from '../errors/index.js';

/** mount(2). `data` is the filesystem's option string, passed as is. */
export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  const fn = cfn('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
  check(fn(source, target, fstype, flags, data), 'mount', target);
}

/** umount2(2) with MNT_* / UMOUNT_NOFOLLOW flags. */
export function umount2(target: string, flags = 0): void {
  check(cfn('int umount2(const char *target, int flags)')(target, flags), 'umount2', target);
}

/** fsopen(2): a filesystem context for `fstype`, configured with fsconfig*, created with fsconfigCreate. */
export function fsopen(fstype: string, flags: number): number {
  return check(cfn('int fsopen(const char *fstype, unsigned int flags)')(fstype, flags), 'fsopen', fstype);
}

/**
 * One fsconfig(2) call. A refusal carries the kernel's reason from the context's log
 * ("e tmpfs: Unknown parameter 'x'"), which is all an EINVAL has to say.
 */
function fsconfig(fsfd: number, cmd: number, key: string | null, value: string | null, what: string): void {
  const fn = cfn('int fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux)');
  if (fn(fsfd, cmd, key, value, 0) < 0) {
    const errno = koffi().errno(); // before readFsLog's read() overwrites it
    throw new SysError(errno, 'fsconfig', what, { detail: readFsLog(fsfd) || undefined });
  }
}

/** fsconfig(FSCONFIG_SET_STRING): one `key=value` option. */
export function fsconfigString(fsfd: number, key: string, value: string): void {
  fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, `${key}=${value}`);
}

/** fsconfig(FSCONFIG_SET_FLAG): one value-less option such as `ro`. */
export function fsconfigFlag(fsfd: number, key: string): void {
  fsconfig(fsfd, FSCONFIG_SET_FLAG, key, null, key);
}

/** fsconfig(FSCONFIG_CMD_CREATE): makes the superblock; a refusal carries the kernel's reason. */
export function fsconfigCreate(fsfd: number): void {
  fsconfig(fsfd, FSCONFIG_CMD_CREATE, null, null, 'create');
}

/** The kernel's messages about an fs context ("e nfs: bad option"), joined; '' when there are none. */
export function readFsLog(fsfd: number): string {
  const read = cfn('long read(int fd, _Out_ uint8_t *buf, size_t count)');
  const lines: string[] = [];
  const buf = Buffer.alloc(1024);
  for (let i = 0; i < 16; i++) {
    const n = Number(read(fsfd, buf, buf.length)); // one message per read; ENODATA when drained
    if (n <= 0) break;
    lines.push(buf.subarray(0, n).toString('utf8').trimEnd());
  }
  return lines.join('; ');
}

/** fsmount(2): a detached mount of a created context, with MOUNT_ATTR_* attributes. */
export function fsmount(fsfd: number, flags: number, attrFlags: number): number {
  const fn = cfn('int fsmount(int fsfd, unsigned int flags, unsigned int attr_flags)');
  return check(fn(fsfd, flags, attrFlags), 'fsmount');
}

/** move_mount(2). Pass '' paths with the *_EMPTY_PATH flags to name mounts and targets by fd alone. */
export function moveMount(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number): void {
  const fn = cfn('int move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path, unsigned int flags)');
  check(fn(fromDirfd, fromPath, toDirfd, toPath, flags), 'move_mount', toPath || undefined);
}

/** open_tree(2): a mount (or with OPEN_TREE_CLONE a detached copy of it) as an fd. */
export function openTree(dirfd: number, path: string, flags: number): number {
  return check(cfn('int open_tree(int dirfd, const char *path, unsigned int flags)')(dirfd, path, flags), 'open_tree', path);
}

export interface MountAttr {
  attrSet: number;
  attrClr?: number;
  propagation?: number;
  usernsFd?: number;
}

/** mount_setattr(2): changes mount attributes (nosuid, nodev, ro, propagation) of a mount. */
export function mountSetattr(dirfd: number, path: string, flags: number, attr: MountAttr): void {
  const struct = cstruct('kmx_mount_attr', { attr_set: 'uint64', attr_clr: 'uint64', propagation: 'uint64', userns_fd: 'uint64' });
  const fn = cfn('int mount_setattr(int dirfd, const char *path, unsigned int flags, kmx_mount_attr *attr, size_t size)');
  const value = { attr_set: attr.attrSet, attr_clr: attr.attrClr ?? 0, propagation: attr.propagation ?? 0, userns_fd: attr.usernsFd ?? 0 };
  check(fn(dirfd, path, flags, value, koffi().sizeof(struct)), 'mount_setattr', path || undefined);
}

/** The mount id (as in /proc/self/mountinfo's first field) of the mount holding `path`. */
export function mountId(path: string, dirfd = AT_FDCWD, flags = 0): number {
  const statx = cfn('int statx(int dirfd, const char *path, int flags, unsigned int mask, _Out_ uint8_t *buf)');
  const buf = Buffer.alloc(256);
  check(statx(dirfd, path, flags, STATX_MNT_ID, buf), 'statx', path || undefined);
  // struct statx: stx_mask (u32) at 0, stx_mnt_id (u64) at 0x90
  if ((buf.readUInt32LE(0) & STATX_MNT_ID) === 0) throw SysError.of('ENOTSUP', 'statx', path, { detail: 'no mount id' });
  return Number(buf.readBigUInt64LE(0x90));
}

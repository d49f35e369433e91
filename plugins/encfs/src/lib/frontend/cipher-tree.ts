import * as fs from 'node:fs';
import { SysError, errnoOf, withUsablePath } from '@kmx/core';
import { DIRIV_BYTES, DIRIV_NAME, LONGNAME_SUFFIX, NAME_MAX, ZERO_IV, type NameTransform, type OnDiskName } from '../nametransform/index.js';
import type { CorruptionLog } from './corruption-log.js';

/** How long a directory IV or a translated path is trusted without looking again (as gocryptfs). */
const CACHE_TTL_MS = 1000;
const CACHE_MAX = 16384;

/** Where a plaintext entry lives in the cipher tree. */
export interface CipherEntry {
  /** The backing directory (absolute). */
  dir: string;
  /** Its IV (the one the name is encrypted under). */
  iv: Buffer;
  /** The encrypted name and, for long names, its full text for the sidecar. */
  name: OnDiskName;
  /** dir/name.name */
  path: string;
}

interface Cached<T> {
  value: T;
  until: number;
}

/**
 * The map from plaintext paths to the cipher tree: each component is encrypted under its
 * parent's gocryptfs.diriv. Directory IVs and translated paths are cached for a second (a
 * file's operations come in bursts: create, write, chown, chmod, utimens, each needing its
 * path), and dropped whenever a rename or rmdir could have changed them.
 */
export class CipherTree {
  private readonly ivs = new Map<string, Cached<Buffer>>();
  private readonly entries = new Map<string, Cached<CipherEntry>>();

  /**
   * `root` is how the server reaches the CIPHERDIR: its own path, or (a mount) /proc/self/fd/N/.
   * for a descriptor opened once, so that callers' permissions are checked from there down as in
   * the plaintext view, never on the directories above it. `shownRoot` names it in messages.
   */
  constructor(readonly root: string, readonly names: NameTransform, readonly useDirIv: boolean, private readonly corruption: CorruptionLog, private readonly shownRoot = root) {}

  /** A backing path as messages name it (the CIPHERDIR's own path in front). */
  shown(cipherPath: string): string {
    return cipherPath.startsWith(this.root) ? this.shownRoot + cipherPath.slice(this.root.length) : cipherPath;
  }

  /** The backing path of a plaintext path. */
  cipherPath(plainPath: string): string {
    if (plainPath === '/') return this.root;
    return this.entry(plainPath).path;
  }

  /** The backing directory, IV and on-disk name of a plaintext path (not the root), cached. */
  entry(plainPath: string): CipherEntry {
    const now = Date.now();
    const hit = this.entries.get(plainPath);
    if (hit && hit.until > now) return hit.value;
    const value = this.translate(plainPath);
    if (this.entries.size >= CACHE_MAX) this.entries.clear();
    this.entries.set(plainPath, { value, until: now + CACHE_TTL_MS });
    return value;
  }

  private translate(plainPath: string): CipherEntry {
    const slash = plainPath.lastIndexOf('/');
    const parent = slash <= 0 ? '/' : plainPath.slice(0, slash);
    const plainName = plainPath.slice(slash + 1);
    if (Buffer.byteLength(plainName) > NAME_MAX) throw SysError.of('ENAMETOOLONG', 'lookup', plainPath);
    // With plaintext names the config sits among the user's files: it is not theirs to touch.
    if (this.names.plaintext && parent === '/' && plainName === 'gocryptfs.conf') throw SysError.of('EPERM', 'lookup', plainPath);
    const dir = this.directory(parent);
    const iv = this.dirIv(dir);
    const name = this.names.onDisk(this.names.encryptName(plainName, iv));
    return { dir, iv, name, path: `${dir}/${name.name}` };
  }

  /** The backing path of a plaintext directory. */
  private directory(plainDir: string): string {
    return plainDir === '/' ? this.root : this.entry(plainDir).path;
  }

  /** The IV names in a backing directory are encrypted under. */
  dirIv(cipherDir: string): Buffer {
    if (!this.useDirIv) return ZERO_IV;
    const now = Date.now();
    const hit = this.ivs.get(cipherDir);
    if (hit && hit.until > now) return hit.value;
    let iv: Buffer;
    try {
      iv = withUsablePath(`${cipherDir}/${DIRIV_NAME}`, (p) => fs.readFileSync(p));
    } catch (err) {
      const errno = errnoOf(err);
      // The directory itself missing (or not a directory) is an ordinary lookup failure.
      if (errno === 2 && isDirectory(cipherDir)) return this.corrupt(cipherDir, `${DIRIV_NAME} is missing`);
      throw err;
    }
    if (iv.length !== DIRIV_BYTES) return this.corrupt(cipherDir, `${DIRIV_NAME} is ${iv.length} bytes, not ${DIRIV_BYTES}`);
    if (this.ivs.size >= CACHE_MAX) this.ivs.clear();
    this.ivs.set(cipherDir, { value: iv, until: now + CACHE_TTL_MS });
    return iv;
  }

  /** Forget everything cached (after a rename or rmdir changed the tree). */
  invalidate(): void {
    this.ivs.clear();
    this.entries.clear();
  }

  /** The full encrypted name behind an on-disk name (reading the sidecar of a long name). */
  fullName(cipherDir: string, onDiskName: string): string {
    if (!this.names.isLongName(onDiskName)) return onDiskName;
    return withUsablePath(`${cipherDir}/${onDiskName}${LONGNAME_SUFFIX}`, (p) => fs.readFileSync(p, 'ascii'));
  }

  private corrupt(cipherDir: string, what: string): never {
    this.corruption.report(`diriv:${cipherDir}`, `corrupt directory ${this.shown(cipherDir)}: ${what}; its entries cannot be named`);
    throw SysError.of('EIO', 'open', this.shown(cipherDir), { detail: what });
  }
}

function isDirectory(path: string): boolean {
  try {
    return withUsablePath(path, (p) => fs.statSync(p).isDirectory());
  } catch {
    return false;
  }
}

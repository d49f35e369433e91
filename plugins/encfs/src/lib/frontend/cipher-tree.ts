import * as fs from 'node:fs';
import { SysError, errnoOf } from '@kmx/core';
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
 * parent's gocryptfs.diriv. Directory IVs and translated directories are cached for a second,
 * and dropped whenever a rename or rmdir could have changed them.
 */
export class CipherTree {
  private readonly ivs = new Map<string, Cached<Buffer>>();
  private readonly dirs = new Map<string, Cached<string>>();

  constructor(readonly root: string, readonly names: NameTransform, readonly useDirIv: boolean, private readonly corruption: CorruptionLog) {}

  /** The backing path of a plaintext path. */
  cipherPath(plainPath: string): string {
    if (plainPath === '/') return this.root;
    return this.entry(plainPath).path;
  }

  /** The backing directory, IV and on-disk name of a plaintext path (not the root). */
  entry(plainPath: string): CipherEntry {
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

  /** The backing path of a plaintext directory, cached. */
  private directory(plainDir: string): string {
    if (plainDir === '/') return this.root;
    const now = Date.now();
    const hit = this.dirs.get(plainDir);
    if (hit && hit.until > now) return hit.value;
    const path = this.entry(plainDir).path;
    if (this.dirs.size >= CACHE_MAX) this.dirs.clear();
    this.dirs.set(plainDir, { value: path, until: now + CACHE_TTL_MS });
    return path;
  }

  /** The IV names in a backing directory are encrypted under. */
  dirIv(cipherDir: string): Buffer {
    if (!this.useDirIv) return ZERO_IV;
    const now = Date.now();
    const hit = this.ivs.get(cipherDir);
    if (hit && hit.until > now) return hit.value;
    let iv: Buffer;
    try {
      iv = fs.readFileSync(`${cipherDir}/${DIRIV_NAME}`);
    } catch (err) {
      const errno = errnoOf(err);
      // The directory itself missing (or not a directory) is an ordinary lookup failure.
      if (errno === 2 && fs.existsSync(cipherDir)) return this.corrupt(cipherDir, `${DIRIV_NAME} is missing`);
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
    this.dirs.clear();
  }

  /** The full encrypted name behind an on-disk name (reading the sidecar of a long name). */
  fullName(cipherDir: string, onDiskName: string): string {
    if (!this.names.isLongName(onDiskName)) return onDiskName;
    return fs.readFileSync(`${cipherDir}/${onDiskName}${LONGNAME_SUFFIX}`, 'ascii');
  }

  private corrupt(cipherDir: string, what: string): never {
    this.corruption.report(`diriv:${cipherDir}`, `corrupt directory ${cipherDir}: ${what}; its entries cannot be named`);
    throw SysError.of('EIO', 'open', cipherDir, { detail: what });
  }
}

import { lstat, open, readFile, readdir, readlink } from 'node:fs/promises';
import { libc } from '@kmx/core';
import { CorruptBlockError, HEADER_BYTES, PLAIN_BLOCK, parseHeader } from '../contentenc/index.js';
import { XattrCrypt, XATTR_PREFIX } from '../frontend/index.js';
import { DIRIV_BYTES, DIRIV_NAME, LONGNAME_SUFFIX, ZERO_IV } from '../nametransform/index.js';
import type { Volume } from '../volume/index.js';

/** One thing wrong in a CIPHERDIR. `path` is the plaintext path where it is known, else the encrypted one. */
export interface FsckProblem {
  kind:
    | 'corrupt-block' | 'corrupt-header' | 'corrupt-size' | 'bad-name' | 'missing-diriv' | 'corrupt-diriv'
    | 'missing-longname' | 'orphan-longname' | 'longname-mismatch' | 'corrupt-symlink' | 'corrupt-xattr' | 'unreadable';
  path: string;
  cipherPath: string;
  detail: string;
}

export interface FsckReport {
  problems: FsckProblem[];
  directories: number;
  files: number;
  symlinks: number;
  blocks: number;
}

const BLOCKS_PER_READ = 256;

/**
 * Checks a whole CIPHERDIR with its key: every directory IV, every name (long names against
 * their hashes), every block of every file, every symlink target and every encrypted
 * attribute. It finds all the damage, not just the first: each problem is reported as found.
 */
export class Fsck {
  private readonly report: FsckReport = { problems: [], directories: 0, files: 0, symlinks: 0, blocks: 0 };
  private readonly xattrs: XattrCrypt;

  constructor(private readonly root: string, private readonly volume: Volume, private readonly onProblem: (p: FsckProblem) => void = () => undefined) {
    this.xattrs = new XattrCrypt(volume.core.eme, volume.names.b64, volume.content);
  }

  async run(): Promise<FsckReport> {
    await this.directory(this.root, '');
    return this.report;
  }

  private problem(kind: FsckProblem['kind'], path: string, cipherPath: string, detail: string): void {
    const p = { kind, path: path || '/', cipherPath: cipherPath.slice(this.root.length) || '/', detail };
    this.report.problems.push(p);
    this.onProblem(p);
  }

  private async directory(dir: string, plain: string): Promise<void> {
    this.report.directories++;
    let iv = ZERO_IV;
    if (this.volume.dirIv) {
      try {
        iv = await readFile(`${dir}/${DIRIV_NAME}`);
        if (iv.length !== DIRIV_BYTES) return this.problem('corrupt-diriv', plain, dir, `${DIRIV_NAME} is ${iv.length} bytes, not ${DIRIV_BYTES}: no name in it can be decrypted`);
      } catch {
        return this.problem('missing-diriv', plain, dir, `${DIRIV_NAME} is missing: no name in it can be decrypted`);
      }
    }
    let entries: string[];
    try {
      entries = (await readdir(dir)).sort();
    } catch (err) {
      return this.problem('unreadable', plain, dir, String(err));
    }
    const present = new Set(entries);
    const names = this.volume.names;
    await this.attributes(dir, plain);
    for (const onDisk of entries) {
      const cipherPath = `${dir}/${onDisk}`;
      if (names.isLongNameSidecar(onDisk)) {
        if (!present.has(onDisk.slice(0, -LONGNAME_SUFFIX.length))) this.problem('orphan-longname', plain, cipherPath, 'a .name file without its entry');
        continue;
      }
      if (names.isInternal(onDisk, dir === this.root)) continue;
      let cipherName = onDisk;
      if (names.isLongName(onDisk)) {
        if (!present.has(onDisk + LONGNAME_SUFFIX)) {
          this.problem('missing-longname', plain, cipherPath, 'a long name without its .name file: its name is lost');
          continue;
        }
        cipherName = await readFile(`${cipherPath}${LONGNAME_SUFFIX}`, 'ascii');
        if (names.hashLongName(cipherName) !== onDisk) {
          this.problem('longname-mismatch', plain, cipherPath, 'the .name file does not hash to the entry name');
          continue;
        }
      }
      let name: string;
      try {
        name = names.decryptName(cipherName, iv);
      } catch (err) {
        this.problem('bad-name', `${plain}/?`, cipherPath, err instanceof Error ? err.message : String(err));
        continue;
      }
      await this.entry(cipherPath, `${plain}/${name}`);
    }
  }

  private async entry(cipherPath: string, plain: string): Promise<void> {
    const st = await lstat(cipherPath);
    if (st.isDirectory()) return this.directory(cipherPath, plain);
    if (st.isSymbolicLink()) return this.symlink(cipherPath, plain);
    if (st.isFile()) {
      await this.attributes(cipherPath, plain);
      return this.file(cipherPath, plain, st.size);
    }
  }

  private async symlink(cipherPath: string, plain: string): Promise<void> {
    this.report.symlinks++;
    if (this.volume.names.plaintext) return;
    const sealed = this.volume.names.b64.decode(await readlink(cipherPath));
    if (!sealed || !this.volume.content.openValue(sealed)) this.problem('corrupt-symlink', plain, cipherPath, 'the target does not authenticate');
  }

  private async attributes(cipherPath: string, plain: string): Promise<void> {
    let stored: string[];
    try {
      stored = libc.llistxattr(cipherPath).filter((n) => n.startsWith(XATTR_PREFIX));
    } catch {
      return;
    }
    for (const name of stored) {
      const plainName = this.xattrs.decryptName(name);
      if (plainName === undefined) {
        this.problem('corrupt-xattr', plain, cipherPath, `the attribute name ${name} does not decrypt`);
        continue;
      }
      const value = libc.lgetxattr(cipherPath, name);
      if (value.length > 0 && !this.volume.content.openValue(value)) this.problem('corrupt-xattr', plain, cipherPath, `the value of ${plainName} does not authenticate`);
    }
  }

  private async file(cipherPath: string, plain: string, size: number): Promise<void> {
    this.report.files++;
    const layout = this.volume.content.layout;
    const { corrupt } = layout.plainSize(size);
    if (corrupt) this.problem('corrupt-size', plain, cipherPath, `${size} bytes is no valid encrypted size (truncated?)`);
    if (size === 0 || size < HEADER_BYTES) return;
    const handle = await open(cipherPath, 'r');
    try {
      const header = Buffer.alloc(HEADER_BYTES);
      await handle.read(header, 0, HEADER_BYTES, 0);
      const parsed = parseHeader(header);
      if ('error' in parsed) return this.problem('corrupt-header', plain, cipherPath, parsed.error);
      const chunk = Buffer.alloc(BLOCKS_PER_READ * layout.cipherBlock);
      for (let first = 0; ; first += BLOCKS_PER_READ) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, layout.cipherOffsetOf(first));
        if (bytesRead === 0) break;
        for (let i = 0; i * layout.cipherBlock < bytesRead; i++) {
          const block = chunk.subarray(i * layout.cipherBlock, Math.min(bytesRead, (i + 1) * layout.cipherBlock));
          this.report.blocks++;
          try {
            this.volume.content.decryptBlocks(block, first + i, parsed.fileId);
          } catch (err) {
            if (!(err instanceof CorruptBlockError)) throw err;
            const at = (first + i) * PLAIN_BLOCK;
            this.problem('corrupt-block', plain, cipherPath, `block ${first + i} (plaintext bytes ${at}…${at + PLAIN_BLOCK - 1}): ${err.reason}`);
          }
        }
        if (bytesRead < chunk.length) break;
      }
    } finally {
      await handle.close();
    }
  }
}

import { lstat, open, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KmxError } from '@kmx/core';
import { CorruptBlockError, HEADER_BYTES, parseHeader } from '../contentenc/index.js';
import { ExitCode } from '../exitcodes/index.js';
import { BadNameError, DIRIV_NAME, LONGNAME_SUFFIX, ZERO_IV } from '../nametransform/index.js';
import type { Volume } from '../volume/index.js';

/** How many entries to look at before giving up on finding something the key can authenticate. */
const ENTRY_BUDGET = 200;

/**
 * Whether a master key given by hand fits a CIPHERDIR. Nothing in the config can tell (its
 * copy of the key is sealed under the password), and gocryptfs mounts any key and shows
 * nothing; kmx looks at the ciphertext instead, breadth first: one file block or symlink
 * target that authenticates proves the key, and if none does while names or blocks fail, the
 * key is wrong. Names alone are weaker evidence (a wrong key yields valid padding about once
 * in 256 names), so every name seen must decrypt. 'unchecked': the directory has nothing
 * encrypted to test against.
 */
export async function checkMasterKey(cipherDir: string, volume: Volume): Promise<'confirmed' | 'unchecked'> {
  const names = volume.names;
  let budget = ENTRY_BUDGET;
  let goodNames = 0;
  let failures = 0;
  const queue = [cipherDir];
  while (queue.length > 0 && budget > 0) {
    const dir = queue.shift()!;
    const iv = volume.dirIv ? await readFile(join(dir, DIRIV_NAME)).catch(() => undefined) : ZERO_IV;
    if (!iv) continue;
    for (const onDisk of (await readdir(dir).catch(() => [] as string[])).sort()) {
      if (budget-- <= 0) break;
      if (names.isInternal(onDisk, dir === cipherDir)) continue;
      const path = join(dir, onDisk);
      const cipherName = names.isLongName(onDisk) ? await readFile(path + LONGNAME_SUFFIX, 'ascii').catch(() => undefined) : onDisk;
      if (cipherName === undefined) continue;
      try {
        names.decryptName(cipherName, iv);
        if (!names.plaintext) goodNames++;
      } catch (err) {
        if (!(err instanceof BadNameError)) throw err;
        failures++;
        continue;
      }
      const st = await lstat(path).catch(() => undefined);
      if (st?.isDirectory()) queue.push(path);
      else if (st?.isSymbolicLink() && !names.plaintext) {
        const sealed = names.b64.decode(await readlink(path));
        if (sealed && volume.content.openValue(sealed)) return 'confirmed';
        failures++;
      } else if (st?.isFile() && st.size > HEADER_BYTES) {
        const verdict = await firstBlockOpens(path, volume);
        if (verdict === true) return 'confirmed';
        if (verdict === false) failures++;
      }
    }
  }
  if (failures > 0) {
    throw new KmxError(`the master key does not fit ${cipherDir}: ${failures} encrypted ${failures === 1 ? 'entry does' : 'entries do'} not decrypt with it`, {
      exitCode: ExitCode.masterKey,
      hint: 'check the key you typed (64 hex digits, as kmx enc init or gocryptfs -init printed it); nothing was mounted',
    });
  }
  return goodNames > 0 ? 'confirmed' : 'unchecked';
}

/** Whether a file's first block authenticates; undefined when it tells nothing (a bad header, a hole). */
async function firstBlockOpens(path: string, volume: Volume): Promise<boolean | undefined> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const bytes = Buffer.alloc(HEADER_BYTES + volume.content.layout.cipherBlock);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
    const header = parseHeader(bytes.subarray(0, HEADER_BYTES));
    const block = bytes.subarray(HEADER_BYTES, bytesRead);
    if ('error' in header || block.length === 0 || block.every((b) => b === 0)) return undefined;
    volume.content.decryptBlocks(block, 0, header.fileId);
    return true;
  } catch (err) {
    if (err instanceof CorruptBlockError) return false;
    throw err;
  } finally {
    await handle.close();
  }
}

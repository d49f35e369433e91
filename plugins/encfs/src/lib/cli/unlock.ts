import { UsageError } from '@kmx/core';
import type { Config } from '../configfile/index.js';
import { unlockConfig } from '../configfile/index.js';
import { readPassword, type PasswordSource } from '../readpassword/index.js';
import { Volume } from '../volume/index.js';
import { checkMasterKey } from './check-master-key.js';
import { readMasterKey } from './masterkey.js';
import type { Target } from './targets.js';

/** Asks for the password (flags, terminal or stdin) and unlocks the master key of `config`. */
export async function unlockWithPassword(config: Config, source: PasswordSource): Promise<Buffer> {
  const password = await readPassword(source);
  try {
    return await unlockConfig(config, password);
  } finally {
    password.fill(0);
  }
}

/** The password sources, or the master key itself (--masterkey KEY|stdin). */
export interface KeySource extends PasswordSource {
  masterkey?: string | undefined;
}

/**
 * The master key of a target: unlocked with the password, or given with --masterkey (the way
 * back when the password is lost) and checked against the CIPHERDIR's ciphertext first, so a
 * mistyped key is refused rather than mounted as an empty-looking directory.
 */
export async function unlockTarget(target: Target, config: Config, source: KeySource): Promise<Buffer> {
  if (source.masterkey === undefined) return unlockWithPassword(config, source);
  if (target.kind !== 'forward') {
    throw new UsageError('--masterkey opens a CIPHERDIR (or a copy of a reverse view), not a reverse view', 'a reverse view is made with its password; restore its copy with kmx enc mount --masterkey stdin COPY MOUNTPOINT');
  }
  const master = await readMasterKey(source.masterkey);
  const volume = new Volume(config, master);
  try {
    if ((await checkMasterKey(target.dir, volume)) === 'unchecked') {
      process.stderr.write(`kmx enc: warning: ${target.dir} holds nothing encrypted yet to check the master key against; files written now are sealed with the key given\n`);
    }
  } catch (err) {
    master.fill(0);
    throw err;
  } finally {
    volume.dispose();
  }
  return master;
}

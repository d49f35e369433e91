import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { KmxError, errnoOf } from '@kmx/core';
import {
  forwardConfigPath, newConfig, reverseConfigPath, writeConfig, type Config, type FormatChoices, type SourceEntry,
} from '../configfile/index.js';
import { randomPool } from '../cryptocore/index.js';
import { ExitCode } from '../exitcodes/index.js';
import { DIRIV_BYTES, DIRIV_NAME } from '../nametransform/index.js';
import { checkLabels, resolveSources } from '../reverse/index.js';

export interface InitOptions extends FormatChoices {
  password: Buffer;
  logN?: number;
  creator: string;
  /** Where the config goes when not in its usual place (gocryptfs -config). */
  configFile?: string | undefined;
  onKeyDerivation?: ((scrypt: { N: number }) => void) | undefined;
}

/** A new config, and the master key it seals (for the user to write down). */
export interface Initialized {
  config: Config;
  master: Buffer;
}

/**
 * A new CIPHERDIR: gocryptfs.conf and the root's gocryptfs.diriv in an empty directory. If
 * anything fails, what was written is removed again.
 */
export async function initForward(dir: string, options: InitOptions): Promise<Initialized> {
  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new KmxError(`${dir} is not empty (${entries.length} entries)`, { exitCode: ExitCode.cipherDirNotEmpty, hint: 'a CIPHERDIR starts empty: choose or create an empty directory' });
  }
  const made = await newConfig(resolve(options.configFile ?? forwardConfigPath(dir)), options);
  const { config } = made;
  await writeConfig(config, { exclusive: true });
  if (!config.dirIv || config.plaintextNames) return made;
  try {
    await writeFile(join(dir, DIRIV_NAME), randomPool.take(DIRIV_BYTES), { mode: 0o444, flag: 'wx' });
  } catch (err) {
    await rm(config.file, { force: true });
    made.master.fill(0);
    throw new KmxError(`cannot write ${join(dir, DIRIV_NAME)}: ${err instanceof Error ? err.message : String(err)}`, { exitCode: ExitCode.writeConfig });
  }
  return made;
}

/** A reverse config (.gocryptfs.reverse.conf) in a plain directory; its files are not touched. */
export async function initReverse(dir: string, options: InitOptions): Promise<Initialized> {
  const made = await newConfig(resolve(options.configFile ?? reverseConfigPath(dir)), { ...options, aesSiv: true });
  await writeConfig(made.config, { exclusive: true });
  return made;
}

/**
 * A multi-source reverse config at `file` (outside every source): the key material plus the
 * sources as label → absolute path. Mode 0600, so its owner can edit the list later.
 */
export async function initSources(file: string, sources: readonly SourceEntry[], options: InitOptions): Promise<Initialized> {
  const target = resolve(file);
  checkLabels(sources, target);
  try {
    if (!(await stat(dirname(target))).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new KmxError(`cannot create ${target}: its directory ${dirname(target)} ${errnoOf(err) === 2 ? 'does not exist' : 'is not usable'}`, { exitCode: ExitCode.writeConfig, hint: `create it first: mkdir -p ${dirname(target)}` });
  }
  const resolved = await resolveSources(sources, target);
  const absolute = sources.map(({ Label }) => ({ Label, Path: resolved.get(Label)! }));
  const made = await newConfig(target, { ...options, aesSiv: true, sources: absolute });
  await writeConfig(made.config, { exclusive: true, mode: 0o600 });
  return made;
}

import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KmxError, errnoOf } from '@kmx/core';
import { ExitCode } from '../exitcodes/index.js';
import { MASTER_KEY_BYTES } from '../cryptocore/index.js';
import { CONFIG_VERSION, Config, type SourceEntry } from './config.js';
import { flagsFor, type FormatChoices } from './feature-flags.js';
import { unwrapMasterKey, wrapMasterKey } from './masterkey.js';
import { deriveKek, newScryptObject } from './scrypt.js';

/** gocryptfs.conf in a CIPHERDIR's root. */
export const FORWARD_CONFIG = 'gocryptfs.conf';
/** Reverse mode keeps its config in the plain directory, hidden from the view. */
export const REVERSE_CONFIG = '.gocryptfs.reverse.conf';

export function forwardConfigPath(cipherDir: string): string {
  return join(cipherDir, FORWARD_CONFIG);
}

export function reverseConfigPath(plainDir: string): string {
  return join(plainDir, REVERSE_CONFIG);
}

/** Reads and checks a config; `what` says what the user pointed at, for the error line. */
export async function readConfig(file: string, what: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 2 || errno === 20) {
      throw new KmxError(`${what} is not a kmx enc or gocryptfs ${basename(file) === REVERSE_CONFIG ? 'reverse ' : ''}directory: ${file} does not exist`, {
        exitCode: ExitCode.loadConfig,
        hint: basename(file) === REVERSE_CONFIG ? `create one with: kmx enc init --reverse ${dirname(file)}` : `create one with: kmx enc init ${dirname(file)}`,
      });
    }
    if (errno === 13) throw new KmxError(`no permission to read ${file}`, { exitCode: ExitCode.loadConfig });
    if (errno === 21) throw new KmxError(`${file} is a directory, not a config file`, { exitCode: ExitCode.loadConfig });
    throw new KmxError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, { exitCode: ExitCode.loadConfig });
  }
  return Config.parse(text, file);
}

/** The master key, or a clear "wrong password" (exit code 12, as gocryptfs). */
export async function unlockConfig(config: Config, password: Buffer): Promise<Buffer> {
  const kek = await deriveKek(password, config.json.ScryptObject);
  const master = unwrapMasterKey(config.encryptedKey, kek, config.hkdf);
  kek.fill(0);
  if (!master) throw new KmxError(`wrong password for ${config.file}`, { exitCode: ExitCode.passwordIncorrect, hint: 'try again; the password cannot be recovered' });
  return master;
}

export interface NewConfigOptions extends FormatChoices {
  password: Buffer;
  logN?: number;
  creator: string;
  sources?: SourceEntry[];
  /** Called just before the (slow, at the default cost) scrypt derivation starts. */
  onKeyDerivation?: ((scrypt: { N: number }) => void) | undefined;
}

/** A new config with a fresh random master key, sealed under the password. */
export async function newConfig(file: string, options: NewConfigOptions): Promise<{ config: Config; master: Buffer }> {
  const master = randomBytes(MASTER_KEY_BYTES);
  const scrypt = newScryptObject(options.logN);
  options.onKeyDerivation?.(scrypt);
  const kek = await deriveKek(options.password, scrypt);
  const config = Config.fromJson({
    Creator: options.creator,
    EncryptedKey: wrapMasterKey(master, kek, true).toString('base64'),
    ScryptObject: scrypt,
    Version: CONFIG_VERSION,
    FeatureFlags: flagsFor(options),
    ...(options.longNameMax !== undefined ? { LongNameMax: options.longNameMax } : {}),
    ...(options.sources ? { KmxSources: options.sources } : {}),
  }, file);
  kek.fill(0);
  return { config, master };
}

/** The same config with the master key sealed under a new password (new salt, optionally new cost). */
export async function rewrapConfig(config: Config, master: Buffer, password: Buffer, logN?: number): Promise<Config> {
  const scrypt = logN === undefined ? newScryptObject(Math.log2(config.json.ScryptObject.N)) : newScryptObject(logN);
  const kek = await deriveKek(password, scrypt);
  const rewrapped = config.with({ EncryptedKey: wrapMasterKey(master, kek, config.hkdf).toString('base64'), ScryptObject: scrypt });
  kek.fill(0);
  return rewrapped;
}

/** Tries at new random names before giving up on a directory full of leftovers. */
const TEMPORARY_ATTEMPTS = 16;

/**
 * A new file for a secret next to `file`: created by this call (O_EXCL, never an existing file
 * or a symlink someone left there, whatever its mode) with `mode` from the start, under a
 * random name nobody can occupy in advance.
 */
async function createTemporary(file: string, mode: number): Promise<{ path: string; handle: FileHandle }> {
  for (let attempt = 1; ; attempt++) {
    const path = join(dirname(file), `.${basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
    try {
      return { path, handle: await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode) };
    } catch (err) {
      if (errnoOf(err) !== 17 || attempt >= TEMPORARY_ATTEMPTS) throw err;
    }
  }
}

/**
 * Writes a config, which holds the sealed master key: into a new temporary file in the same
 * directory that is owner-only from its creation (0400, or 0600 when told; group and other
 * bits asked for are dropped, so a config whose old mode was loose is replaced by a strict
 * one), fsync, then renamed into place, so a crash leaves the old config or the new one,
 * never half of one, and the key is never in a file others can read, not even for a moment.
 * Nothing is chmod'ed after the fact. `exclusive` refuses to replace a file.
 */
export async function writeConfig(config: Config, options: { exclusive?: boolean; mode?: number } = {}): Promise<void> {
  const file = config.file;
  const mode = ((options.mode ?? 0o400) & 0o600) | 0o400;
  let temporary: string | undefined;
  try {
    const created = await createTemporary(file, mode);
    temporary = created.path;
    try {
      await created.handle.writeFile(config.serialize());
      await created.handle.sync();
    } finally {
      await created.handle.close();
    }
    if (options.exclusive) {
      // link(2) fails if the target exists: no window in which an existing config is replaced.
      await link(temporary, file);
      await rm(temporary);
    } else {
      await rename(temporary, file);
    }
    temporary = undefined;
    const dir = await open(dirname(file), constants.O_RDONLY);
    await dir.sync().finally(() => dir.close());
  } catch (err) {
    if (temporary !== undefined) await rm(temporary, { force: true }); // only a file this call made
    if (errnoOf(err) === 17) throw new KmxError(`${file} already exists`, { exitCode: ExitCode.writeConfig, hint: 'it already holds a filesystem: choose another directory' });
    throw new KmxError(`cannot write ${file}: ${err instanceof Error ? err.message : String(err)}`, { exitCode: ExitCode.writeConfig });
  }
}

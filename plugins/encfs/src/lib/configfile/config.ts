import { KmxError } from '@kmx/core';
import { ExitCode } from '../exitcodes/index.js';
import { FeatureFlag, KNOWN_FLAGS, UNSUPPORTED_FLAGS } from './feature-flags.js';
import { MAX_LOG_N, MIN_LOG_N, type ScryptObject } from './scrypt.js';

/** The only on-disk format version kmx (like gocryptfs 2.x) reads and writes. */
export const CONFIG_VERSION = 2;
export const DEFAULT_LONG_NAME_MAX = 255;
export const MIN_LONG_NAME_MAX = 62;

/** One plain directory of a multi-source reverse view: its label (top-level name) and path. */
export interface SourceEntry {
  Label: string;
  Path: string;
}

/**
 * gocryptfs.conf as JSON. Field order matters: gocryptfs writes them in this order, and kmx
 * writes them the same way. `KmxSources` exists only in kmx's multi-source configs and is
 * never shown in a view.
 */
export interface ConfigJson {
  Creator: string;
  EncryptedKey: string;
  ScryptObject: ScryptObject;
  Version: number;
  FeatureFlags: string[];
  LongNameMax?: number;
  KmxSources?: SourceEntry[];
}

function corrupt(file: string, what: string): KmxError {
  return new KmxError(`config ${file} is corrupt: ${what}`, { exitCode: ExitCode.loadConfig, hint: 'restore it from a backup (the master key cannot be recovered without it)' });
}

const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** A config as read from disk: every field checked, every flag known and implemented. */
export class Config {
  private constructor(readonly json: ConfigJson, readonly file: string) {}

  /** Parses and checks the text of a config; `file` names it in errors. */
  static parse(text: string, file: string): Config {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw corrupt(file, 'it is not valid JSON');
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw corrupt(file, 'it is not a JSON object');
    const o = raw as Record<string, unknown>;
    if (typeof o.Version !== 'number') throw corrupt(file, 'Version is missing');
    if (o.Version !== CONFIG_VERSION) {
      throw new KmxError(`config ${file} has format version ${o.Version}; kmx reads version ${CONFIG_VERSION}`, { exitCode: ExitCode.loadConfig, hint: 'version 1 filesystems need gocryptfs 1.x to upgrade' });
    }
    if (typeof o.Creator !== 'string') throw corrupt(file, 'Creator is missing');
    if (typeof o.EncryptedKey !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(o.EncryptedKey) || Buffer.from(o.EncryptedKey, 'base64').length !== 64) {
      throw corrupt(file, 'EncryptedKey is not 64 bytes of base64');
    }
    const scrypt = checkScrypt(o.ScryptObject, file);
    if (!Array.isArray(o.FeatureFlags) || !o.FeatureFlags.every((f): f is string => typeof f === 'string')) throw corrupt(file, 'FeatureFlags is not a list of names');
    for (const flag of o.FeatureFlags) {
      if (!KNOWN_FLAGS.includes(flag)) {
        throw new KmxError(`config ${file} uses the feature flag "${flag}", which kmx does not know`, { exitCode: ExitCode.loadConfig, hint: 'it was made by a newer gocryptfs; mount it with that' });
      }
      const why = UNSUPPORTED_FLAGS[flag];
      if (why) throw new KmxError(`config ${file} uses the feature flag "${flag}": ${why}`, { exitCode: ExitCode.loadConfig, hint: 'mount it with gocryptfs' });
    }
    const flags = new Set(o.FeatureFlags);
    if (!flags.has(FeatureFlag.gcmIv128)) throw corrupt(file, 'GCMIV128 is missing (96-bit nonces are a gocryptfs 0.x format)');
    if (!flags.has(FeatureFlag.plaintextNames) && !flags.has(FeatureFlag.emeNames)) throw corrupt(file, 'EMENames is missing (CBC names are a gocryptfs 0.x format)');
    let longNameMax: number | undefined;
    if (flags.has(FeatureFlag.longNameMax)) {
      if (typeof o.LongNameMax !== 'number' || !Number.isInteger(o.LongNameMax) || o.LongNameMax < MIN_LONG_NAME_MAX || o.LongNameMax > DEFAULT_LONG_NAME_MAX) {
        throw corrupt(file, `LongNameMax must be ${MIN_LONG_NAME_MAX}…${DEFAULT_LONG_NAME_MAX}`);
      }
      longNameMax = o.LongNameMax;
    }
    const sources = o.KmxSources === undefined ? undefined : checkSources(o.KmxSources, file);
    const json: ConfigJson = {
      Creator: o.Creator, EncryptedKey: o.EncryptedKey, ScryptObject: scrypt, Version: o.Version, FeatureFlags: [...o.FeatureFlags],
      ...(longNameMax !== undefined ? { LongNameMax: longNameMax } : {}),
      ...(sources ? { KmxSources: sources } : {}),
    };
    return new Config(json, file);
  }

  static fromJson(json: ConfigJson, file: string): Config {
    return Config.parse(JSON.stringify(json), file);
  }

  has(flag: string): boolean {
    return this.json.FeatureFlags.includes(flag);
  }

  get aesSiv(): boolean {
    return this.has(FeatureFlag.aesSiv);
  }

  get plaintextNames(): boolean {
    return this.has(FeatureFlag.plaintextNames);
  }

  get dirIv(): boolean {
    return this.has(FeatureFlag.dirIv);
  }

  get raw64(): boolean {
    return this.has(FeatureFlag.raw64);
  }

  get hkdf(): boolean {
    return this.has(FeatureFlag.hkdf);
  }

  get longNames(): boolean {
    return this.has(FeatureFlag.longNames);
  }

  /** Encrypted names longer than this are stored hashed, with a .name sidecar. */
  get longNameMax(): number {
    return this.json.LongNameMax ?? DEFAULT_LONG_NAME_MAX;
  }

  get encryptedKey(): Buffer {
    return Buffer.from(this.json.EncryptedKey, 'base64');
  }

  get sources(): readonly SourceEntry[] | undefined {
    return this.json.KmxSources;
  }

  get contentEncryption(): string {
    return this.aesSiv ? 'AES-SIV-512' : 'AES-GCM-256';
  }

  /** A copy with other fields replaced (re-checked). */
  with(changes: Partial<ConfigJson>): Config {
    return Config.fromJson({ ...this.json, ...changes }, this.file);
  }

  /** The text gocryptfs would write: tab-indented JSON and a newline, fields in its order. */
  serialize(options: { withSources?: boolean } = {}): string {
    const j = this.json;
    const ordered: ConfigJson = {
      Creator: j.Creator,
      EncryptedKey: j.EncryptedKey,
      ScryptObject: { Salt: j.ScryptObject.Salt, N: j.ScryptObject.N, R: j.ScryptObject.R, P: j.ScryptObject.P, KeyLen: j.ScryptObject.KeyLen },
      Version: j.Version,
      FeatureFlags: j.FeatureFlags,
      ...(j.LongNameMax !== undefined ? { LongNameMax: j.LongNameMax } : {}),
      ...(options.withSources !== false && j.KmxSources ? { KmxSources: j.KmxSources } : {}),
    };
    return `${JSON.stringify(ordered, null, '\t')}\n`;
  }
}

function checkScrypt(value: unknown, file: string): ScryptObject {
  if (typeof value !== 'object' || value === null) throw corrupt(file, 'ScryptObject is missing');
  const s = value as Record<string, unknown>;
  if (typeof s.Salt !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(s.Salt) || Buffer.from(s.Salt, 'base64').length < 16) throw corrupt(file, 'the scrypt salt is missing or shorter than 16 bytes');
  const N = s.N;
  if (typeof N !== 'number' || !isPowerOfTwo(N) || N < 2 ** MIN_LOG_N || N > 2 ** MAX_LOG_N) throw corrupt(file, `scrypt N must be a power of two from 2^${MIN_LOG_N} to 2^${MAX_LOG_N}`);
  if (typeof s.R !== 'number' || !Number.isInteger(s.R) || s.R < 1 || s.R > 64) throw corrupt(file, 'scrypt R is out of range');
  if (typeof s.P !== 'number' || !Number.isInteger(s.P) || s.P < 1 || s.P > 16) throw corrupt(file, 'scrypt P is out of range');
  if (s.KeyLen !== 32) throw corrupt(file, 'scrypt KeyLen must be 32');
  return { Salt: s.Salt, N, R: s.R, P: s.P, KeyLen: 32 };
}

function checkSources(value: unknown, file: string): SourceEntry[] {
  if (!Array.isArray(value)) throw corrupt(file, 'KmxSources is not a list');
  return value.map((item, i) => {
    const e = item as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.Label !== 'string' || typeof e.Path !== 'string') {
      throw corrupt(file, `KmxSources[${i}] needs a "Label" and a "Path"`);
    }
    return { Label: e.Label, Path: e.Path };
  });
}

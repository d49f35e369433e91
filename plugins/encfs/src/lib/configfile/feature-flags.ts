/**
 * gocryptfs's feature flags: each one names a format choice a filesystem was created with.
 * A config carrying a flag kmx does not know, or knows but does not implement, is refused:
 * reading such a filesystem with the wrong rules would show garbage or corrupt it.
 */
export const FeatureFlag = {
  hkdf: 'HKDF',
  gcmIv128: 'GCMIV128',
  longNameMax: 'LongNameMax',
  dirIv: 'DirIV',
  emeNames: 'EMENames',
  longNames: 'LongNames',
  raw64: 'Raw64',
  aesSiv: 'AESSIV',
  plaintextNames: 'PlaintextNames',
  xchacha: 'XChaCha20Poly1305',
  fido2: 'FIDO2',
} as const;

export type FeatureFlagName = (typeof FeatureFlag)[keyof typeof FeatureFlag];

/** Every flag gocryptfs 2.3 writes, in the order it writes them. */
export const KNOWN_FLAGS: readonly string[] = [
  FeatureFlag.hkdf, FeatureFlag.gcmIv128, FeatureFlag.xchacha, FeatureFlag.dirIv, FeatureFlag.longNameMax,
  FeatureFlag.emeNames, FeatureFlag.longNames, FeatureFlag.raw64, FeatureFlag.aesSiv, FeatureFlag.plaintextNames, FeatureFlag.fido2,
];

/** Known flags kmx cannot honour, and why. */
export const UNSUPPORTED_FLAGS: Readonly<Record<string, string>> = {
  [FeatureFlag.fido2]: 'the password is held by a FIDO2 token',
  [FeatureFlag.xchacha]: 'XChaCha20-Poly1305 content encryption is not implemented in kmx',
};

export interface FormatChoices {
  aesSiv?: boolean;
  plaintextNames?: boolean;
  deterministicNames?: boolean;
  longNameMax?: number;
}

/** The flags of a new filesystem, in gocryptfs's order. */
export function flagsFor(choices: FormatChoices): string[] {
  const flags: string[] = [FeatureFlag.hkdf, FeatureFlag.gcmIv128];
  if (choices.plaintextNames) flags.push(FeatureFlag.plaintextNames);
  else {
    if (!choices.deterministicNames) flags.push(FeatureFlag.dirIv);
    if (choices.longNameMax !== undefined) flags.push(FeatureFlag.longNameMax);
    flags.push(FeatureFlag.emeNames, FeatureFlag.longNames, FeatureFlag.raw64);
  }
  if (choices.aesSiv) flags.push(FeatureFlag.aesSiv);
  return flags;
}

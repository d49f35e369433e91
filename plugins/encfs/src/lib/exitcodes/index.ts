/**
 * Exit codes of kmx enc, the same numbers gocryptfs uses, so scripts written for one work
 * with the other. Anything not listed exits 1 (or 2 for bad usage).
 */
export const ExitCode = {
  /** init: the directory is not empty. */
  cipherDirNotEmpty: 6,
  /** The mountpoint cannot be used. */
  mountPoint: 10,
  passwordIncorrect: 12,
  /** A --masterkey that is malformed, or does not decrypt the CIPHERDIR. */
  masterKey: 14,
  passwordEmpty: 22,
  /** The config cannot be read: missing, corrupt, unsupported. */
  loadConfig: 23,
  writeConfig: 24,
  /** fsck found corruption. */
  fsckErrors: 26,
} as const;

import type { PeerSpellings } from '@kmx/core';

// gocryptfs's single-dash long flags, as each kmx enc command's own (docs/enc.md lists them).
// null: a gocryptfs flag that changes nothing in kmx, accepted so that its command lines work.

const EVERYWHERE: PeerSpellings = {
  '-passfile': '--passfile',
  '-extpass': '--extpass',
  '-config': '--config',
  '-nosyslog': null, // kmx logs to stderr (a daemon to its log file), never to syslog
};

export const GOCRYPTFS_INIT_SPELLINGS: PeerSpellings = {
  ...EVERYWHERE,
  '-reverse': '--reverse',
  '-scryptn': '--scryptn',
  '-aessiv': '--aessiv',
  '-plaintextnames': '--plaintextnames',
  '-deterministic-names': '--deterministic-names',
  '-longnamemax': '--longnamemax',
  '-q': '--quiet',
  '-quiet': '--quiet',
};

export const GOCRYPTFS_MOUNT_SPELLINGS: PeerSpellings = {
  ...EVERYWHERE,
  '-masterkey': '--masterkey',
  '-reverse': '--reverse',
  '-ro': '--ro',
  '-allow_other': '--allow-other',
  '-q': '--quiet',
  '-quiet': '--quiet',
  '-fg': null, // kmx stays in the foreground unless --daemon
  '-f': null,
};

export const GOCRYPTFS_FSCK_SPELLINGS: PeerSpellings = { ...EVERYWHERE, '-masterkey': '--masterkey' };

export const GOCRYPTFS_PASSWD_SPELLINGS: PeerSpellings = { ...EVERYWHERE, '-masterkey': '--masterkey', '-reverse': '--reverse', '-scryptn': '--scryptn' };

/** info and the path tools: a directory, a reverse one, or a config elsewhere. */
export const GOCRYPTFS_TARGET_SPELLINGS: PeerSpellings = { ...EVERYWHERE, '-reverse': '--reverse' };

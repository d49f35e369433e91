import { Flags } from '@oclif/core';

/** The password options every command that needs the password takes. */
export const passwordFlags = {
  passfile: Flags.string({ description: 'Read the password from the first line of FILE.', helpValue: 'FILE', exclusive: ['extpass'] }),
  extpass: Flags.string({ description: 'Run CMD with /bin/sh and use what it prints (less a trailing newline) as the password.', helpValue: 'CMD' }),
};

/** The master key instead of the password: gocryptfs's -masterkey, for when the password is lost. */
export const masterKeyFlag = {
  masterkey: Flags.string({
    description: 'Use the master key (as init printed it: 64 hex digits, dashes allowed) instead of the password; "stdin" reads it from stdin.',
    helpValue: 'KEY|stdin',
    exclusive: ['passfile', 'extpass'],
  }),
};

/** gocryptfs's -config: the config kept away from the directory (DIR itself then has none). */
export const configFlag = {
  config: Flags.string({ description: 'Use FILE as the config instead of the one in DIR (gocryptfs -config).', helpValue: 'FILE', exclusive: ['sources'] }),
};

/** How a command names what it works on: a CIPHERDIR, a plain directory (--reverse) or a multi-source config (--sources). */
export const targetFlags = {
  reverse: Flags.boolean({ description: 'DIR is a plain directory with a reverse config (.gocryptfs.reverse.conf).' }),
  sources: Flags.string({ description: 'A multi-source reverse config (kept outside the sources) instead of DIR; implies --reverse.', helpValue: 'CONFIG' }),
  ...configFlag,
};

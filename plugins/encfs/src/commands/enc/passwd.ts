import { stat } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { KmxCommand } from '@kmx/core';
import { MAX_LOG_N, MIN_LOG_N, rewrapConfig, writeConfig } from '../../lib/configfile/index.js';
import { GOCRYPTFS_PASSWD_SPELLINGS, loadTargetConfig, locateTarget, masterKeyFlag, passwordFlags, targetFlags, unlockTarget } from '../../lib/cli/index.js';
import { readPassword } from '../../lib/readpassword/index.js';

export default class EncPasswd extends KmxCommand {
  static override summary = 'Change the password of a CIPHERDIR, a reverse config or a multi-source config.';
  static override description = `Asks for the current password (--passfile, --extpass, prompt or stdin), checks it, then asks for the new one (--new-passfile, --new-extpass, prompt twice, or the next line of stdin).
Lost the password? --masterkey (as init printed it) stands in for the current one, as with gocryptfs -passwd -masterkey.
Only the sealed master key and the scrypt salt change: no file is re-encrypted, and the old password stops working at once. The config is replaced atomically.`;

  static override examples = [
    { description: 'Change it interactively', command: '<%= config.bin %> enc passwd ~/vault.enc' },
    { description: 'From files, raising the scrypt cost', command: '<%= config.bin %> enc passwd --passfile old.txt --new-passfile new.txt --scryptn 17 ~/vault.enc' },
    { description: 'A reverse config', command: '<%= config.bin %> enc passwd --reverse ~/docs' },
    { description: 'The password is lost: set a new one with the master key', command: '<%= config.bin %> enc passwd --masterkey stdin ~/vault.enc' },
  ];

  static override args = {
    dir: Args.string({ description: 'CIPHERDIR, plain directory (--reverse) or config file (omitted with --sources).', required: false }),
  };

  static override flags = {
    ...passwordFlags,
    ...masterKeyFlag,
    ...targetFlags,
    'new-passfile': Flags.string({ description: 'Read the new password from the first line of FILE.', helpValue: 'FILE', exclusive: ['new-extpass'] }),
    'new-extpass': Flags.string({ description: 'Run CMD with /bin/sh and use what it prints as the new password.', helpValue: 'CMD' }),
    scryptn: Flags.integer({ description: `New scrypt cost as log2(N), ${MIN_LOG_N}…${MAX_LOG_N} (default: keep the current one).`, min: MIN_LOG_N, max: MAX_LOG_N }),
  };

  static override peerSpellings = GOCRYPTFS_PASSWD_SPELLINGS;

  async run(): Promise<void> {
    const { args, flags } = await this.parse(EncPasswd);
    const target = await locateTarget(args.dir, flags, { anyKind: true });
    const config = await loadTargetConfig(target);
    const master = await unlockTarget(target, config, flags);
    const password = await readPassword({ passfile: flags['new-passfile'], extpass: flags['new-extpass'] }, { prompt: 'New password: ', confirm: true, what: 'new password' });
    try {
      // Owner-only either way: writeConfig keeps the owner's bits and drops any for group and others.
      const mode = (await stat(config.file)).mode & 0o777;
      await writeConfig(await rewrapConfig(config, master, password, flags.scryptn), { mode });
    } finally {
      password.fill(0);
      master.fill(0);
    }
    this.log(`password changed for ${config.file}`);
  }
}

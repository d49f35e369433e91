import { Args } from '@oclif/core';
import { KmxCommand } from '@kmx/core';
import { GOCRYPTFS_TARGET_SPELLINGS, openPathCrypt, passwordFlags, targetFlags } from '../../lib/cli/index.js';

export default class EncEncryptPath extends KmxCommand {
  static override enableJsonFlag = true;
  static override summary = 'Print the encrypted paths of plaintext paths (relative to the CIPHERDIR or the view), one per line.';
  static override description = `For admins: which file in the CIPHERDIR (or in a reverse view and its backups) holds a given plaintext file. Forward mode reads the directory IVs on disk, so the directories must exist; reverse mode derives them and needs nothing to exist.`;
  static override examples = [
    '<%= config.bin %> enc encrypt-path ~/vault.enc docs/letter.txt',
    { description: 'Where a file of ~/docs is in the backup of its reverse view', command: '<%= config.bin %> enc encrypt-path --reverse ~/docs taxes/2024.pdf' },
    '<%= config.bin %> enc encrypt-path --sources ~/.config/kmx/backup.conf mail/inbox',
  ];

  static override args = {
    dir: Args.string({ description: 'CIPHERDIR, or the plain directory with --reverse (omitted with --sources).', required: false }),
    path: Args.string({ description: 'Plaintext paths, relative to the root of the plaintext view (several may follow).', required: false }),
  };

  static override flags = { ...passwordFlags, ...targetFlags };

  static override peerSpellings = GOCRYPTFS_TARGET_SPELLINGS;
  static override strict = false; // any number of paths

  async run(): Promise<Array<{ plain: string; cipher: string }>> {
    const { argv, flags } = await this.parse(EncEncryptPath);
    const { crypt, paths } = await openPathCrypt(argv as string[], flags);
    return paths.map((path) => {
      const cipher = crypt.encrypt(path);
      this.log(cipher);
      return { plain: path, cipher };
    });
  }
}

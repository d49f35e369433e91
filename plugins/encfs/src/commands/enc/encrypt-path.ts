import { Args } from '@oclif/core';
import { KmxCommand } from '@kmx/core';
import { openPathCrypt, passwordFlags, targetFlags } from '../../lib/cli/index.js';

export default class EncEncryptPath extends KmxCommand {
  static override enableJsonFlag = true;
  static override summary = 'Print the encrypted path of a plaintext path (relative to the CIPHERDIR or the view).';
  static override description = `For admins: which file in the CIPHERDIR (or in a reverse view and its backups) holds a given plaintext file. Forward mode reads the directory IVs on disk, so the directories must exist; reverse mode derives them and needs nothing to exist.`;
  static override examples = [
    '<%= config.bin %> enc encrypt-path ~/vault.enc docs/letter.txt',
    { description: 'Where a file of ~/docs is in the backup of its reverse view', command: '<%= config.bin %> enc encrypt-path --reverse ~/docs taxes/2024.pdf' },
    '<%= config.bin %> enc encrypt-path --sources ~/.config/kmx/backup.conf mail/inbox',
  ];

  static override args = {
    dir: Args.string({ description: 'CIPHERDIR, or the plain directory with --reverse (omitted with --sources).', required: true }),
    path: Args.string({ description: 'Plaintext path, relative to the root of the plaintext view.', required: false }),
  };

  static override flags = { ...passwordFlags, ...targetFlags };

  async run(): Promise<{ plain: string; cipher: string }> {
    const { args, flags } = await this.parse(EncEncryptPath);
    const { crypt, path } = await openPathCrypt(args.dir, args.path, flags);
    const cipher = crypt.encrypt(path);
    this.log(cipher);
    return { plain: path, cipher };
  }
}

import { Args } from '@oclif/core';
import { KmxCommand } from '@kmx/core';
import { openPathCrypt, passwordFlags, targetFlags } from '../../lib/cli/index.js';

export default class EncDecryptPath extends KmxCommand {
  static override enableJsonFlag = true;
  static override summary = 'Print the plaintext path of an encrypted path (relative to the CIPHERDIR or the view).';
  static override description = `For admins: what an encrypted file in a CIPHERDIR, a reverse view or a backup of one is (fsck, backup logs and du name encrypted paths). Long names are resolved through their .name files (forward) or the plain directory (reverse).`;
  static override examples = [
    '<%= config.bin %> enc decrypt-path ~/vault.enc 9qXj3SlVMSqPcw9tI0hZ8w/Nd0rdYwlF5QkQMCcylFuvA',
    { description: 'Which file of ~/docs an encrypted path in its backup is', command: '<%= config.bin %> enc decrypt-path --reverse ~/docs Q1zqwvUytEGuWmNwh5R0pQ' },
    '<%= config.bin %> enc decrypt-path --sources ~/.config/kmx/backup.conf 6iuVyT-gq6Hh0fZoy7Lxgw/b2y0eUhEuwSHYUyHqT5T7Q',
  ];

  static override args = {
    dir: Args.string({ description: 'CIPHERDIR, or the plain directory with --reverse (omitted with --sources).', required: true }),
    path: Args.string({ description: 'Encrypted path, relative to the CIPHERDIR or the root of the view.', required: false }),
  };

  static override flags = { ...passwordFlags, ...targetFlags };

  async run(): Promise<{ plain: string; cipher: string }> {
    const { args, flags } = await this.parse(EncDecryptPath);
    const { crypt, path } = await openPathCrypt(args.dir, args.path, flags);
    const plain = crypt.decrypt(path);
    this.log(plain);
    return { plain, cipher: path };
  }
}

import { Args } from '@oclif/core';
import { KmxCommand } from '@kmx/core';
import { GOCRYPTFS_TARGET_SPELLINGS, openPathCrypt, passwordFlags, targetFlags } from '../../lib/cli/index.js';

export default class EncDecryptPath extends KmxCommand {
  static override enableJsonFlag = true;
  static override summary = 'Print the plaintext paths of encrypted paths (relative to the CIPHERDIR or the view), one per line.';
  static override description = `For admins: what an encrypted file in a CIPHERDIR, a reverse view or a backup of one is (fsck, backup logs and du name encrypted paths). Long names are resolved through their .name files (forward) or the plain directory (reverse).
Encrypted names may start with '-': put -- before the paths.`;
  static override examples = [
    '<%= config.bin %> enc decrypt-path ~/vault.enc -- 9qXj3SlVMSqPcw9tI0hZ8w/-d0rdYwlF5QkQMCcylFuvA',
    { description: 'Which file of ~/docs an encrypted path in its backup is', command: '<%= config.bin %> enc decrypt-path --reverse ~/docs Q1zqwvUytEGuWmNwh5R0pQ' },
    '<%= config.bin %> enc decrypt-path --sources ~/.config/kmx/backup.conf 6iuVyT-gq6Hh0fZoy7Lxgw/b2y0eUhEuwSHYUyHqT5T7Q',
  ];

  static override args = {
    dir: Args.string({ description: 'CIPHERDIR, or the plain directory with --reverse (omitted with --sources).', required: false }),
    path: Args.string({ description: 'Encrypted paths, relative to the CIPHERDIR or the root of the view (several may follow).', required: false }),
  };

  static override flags = { ...passwordFlags, ...targetFlags };

  static override peerSpellings = GOCRYPTFS_TARGET_SPELLINGS;
  static override strict = false; // any number of paths

  async run(): Promise<Array<{ plain: string; cipher: string }>> {
    const { argv, flags } = await this.parse(EncDecryptPath);
    const { crypt, paths } = await openPathCrypt(argv as string[], flags);
    return paths.map((path) => {
      const plain = crypt.decrypt(path);
      this.log(plain);
      return { cipher: path, plain };
    });
  }
}

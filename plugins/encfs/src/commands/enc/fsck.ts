import { Args } from '@oclif/core';
import { KmxCommand, KmxError } from '@kmx/core';
import { ExitCode } from '../../lib/exitcodes/index.js';
import { Fsck, type FsckReport } from '../../lib/fsck/index.js';
import { GOCRYPTFS_FSCK_SPELLINGS, configFlag, loadTargetConfig, locateTarget, masterKeyFlag, passwordFlags, unlockTarget } from '../../lib/cli/index.js';
import { Volume } from '../../lib/volume/index.js';

export default class EncFsck extends KmxCommand {
  static override enableJsonFlag = true;
  static override summary = 'Check a CIPHERDIR for corruption: every block, name, directory IV, symlink and attribute.';
  static override description = `Decrypts everything with the key (nothing is written) and lists each problem as it is found: corrupt or truncated blocks and headers, names that do not decrypt, missing or damaged gocryptfs.diriv and .name files, symlink targets and attribute values that do not authenticate.
Exit code 0: no problems; 26: problems found (as gocryptfs -fsck); 12: wrong password. Works on a copy of a reverse view too.`;

  static override examples = [
    '<%= config.bin %> enc fsck ~/vault.enc',
    { description: 'Check a restored backup, machine-readable', command: '<%= config.bin %> enc fsck --json --passfile pw.txt /backup/docs.enc' },
  ];

  static override args = {
    dir: Args.string({ description: 'The CIPHERDIR to check.', required: true }),
  };

  static override flags = { ...passwordFlags, ...masterKeyFlag, ...configFlag };

  static override peerSpellings = GOCRYPTFS_FSCK_SPELLINGS;

  async run(): Promise<FsckReport> {
    const { args, flags } = await this.parse(EncFsck);
    const target = await locateTarget(args.dir, { config: flags.config });
    if (target.kind !== 'forward') throw new KmxError('fsck checks a CIPHERDIR');
    const config = await loadTargetConfig(target);
    const volume = new Volume(config, await unlockTarget(target, config, flags));
    const json = this.jsonEnabled();
    let report: FsckReport;
    try {
      report = await new Fsck(target.dir, volume, (p) => {
        if (!json) this.log(`${p.kind}: ${p.path} (${p.cipherPath}): ${p.detail}`);
      }).run();
    } finally {
      volume.dispose();
    }
    const counted = `${report.directories} directories, ${report.files} files, ${report.symlinks} symlinks, ${report.blocks} blocks`;
    if (report.problems.length === 0) {
      this.log(`no problems found (${counted})`);
      return report;
    }
    if (json) {
      this.logJson(report);
      this.exit(ExitCode.fsckErrors);
    }
    throw new KmxError(`fsck found ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${target.dir} (${counted})`, {
      exitCode: ExitCode.fsckErrors,
      hint: 'the lines above name each one; restore those files from a backup',
    });
  }
}

import { readdir } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { KmxCommand, KmxError, UsageError, existingDirectory } from '@kmx/core';
import { DEFAULT_LOG_N, MAX_LOG_N, MIN_LOG_N, MIN_LONG_NAME_MAX, DEFAULT_LONG_NAME_MAX, readConfig, reverseConfigPath, type Config } from '../../lib/configfile/index.js';
import { ExitCode } from '../../lib/exitcodes/index.js';
import { initForward, initReverse, initSources, type Initialized } from '../../lib/init/index.js';
import { GOCRYPTFS_INIT_SPELLINGS, formatMasterKey, masterKeyNotice, passwordFlags } from '../../lib/cli/index.js';
import { readPassword } from '../../lib/readpassword/index.js';
import { checkLabels, parseSourceSpec } from '../../lib/reverse/index.js';

interface InitResult {
  config: string;
  kind: 'forward' | 'reverse' | 'sources';
  contentEncryption: string;
  featureFlags: string[];
  scryptN: number;
  /** The master key as gocryptfs prints it (not with --quiet). */
  masterKey?: string;
}

export default class EncInit extends KmxCommand {
  static override enableJsonFlag = true;
  static override summary = 'Create an encrypted directory (CIPHERDIR), or a reverse config for plain directories.';
  static override description = `Writes a gocryptfs v2 config (gocryptfs.conf) with a new random master key sealed under your password; stock gocryptfs mounts the result too.
DIR: an empty directory becomes a CIPHERDIR; mount its plaintext view with kmx enc mount.
--reverse DIR: writes DIR/.gocryptfs.reverse.conf; DIR's files stay as they are, and kmx enc mount --reverse shows them encrypted.
--reverse --sources CONFIG --source LABEL=PATH …: a config for several plain directories under one encrypted view, kept outside them.
The password comes from --passfile, --extpass, a hidden prompt (asked twice), or a line of piped stdin.
Prints the master key, as gocryptfs -init does: write it down, it is the way back when the password is lost (kmx enc mount --masterkey, gocryptfs -masterkey). --quiet prints only errors.
gocryptfs's spellings work too: -passfile, -extpass, -reverse, -scryptn, -config, -aessiv, -plaintextnames, -deterministic-names, -longnamemax, -q; -nosyslog is accepted and changes nothing.`;

  static override peerSpellings = GOCRYPTFS_INIT_SPELLINGS;

  static override examples = [
    { description: 'A new CIPHERDIR', command: 'mkdir ~/vault.enc && <%= config.bin %> enc init ~/vault.enc' },
    { description: 'Encrypted backups of ~/docs without a second copy', command: '<%= config.bin %> enc init --reverse ~/docs' },
    { description: 'One encrypted view of two directories', command: '<%= config.bin %> enc init --reverse --sources ~/.config/kmx/backup.conf --source docs=~/docs --source mail=~/Mail' },
    { description: 'Fast key derivation for tests (weak: never for real data)', command: '<%= config.bin %> enc init --scryptn 10 --passfile pw.txt /tmp/test.enc' },
  ];

  static override args = {
    dir: Args.string({ description: 'The directory (omitted with --sources).', required: false }),
  };

  static override flags = {
    ...passwordFlags,
    reverse: Flags.boolean({ description: 'Create a reverse config: the plain directory stays, its encrypted view is mounted with --reverse (implies --aessiv).' }),
    sources: Flags.string({ description: 'With --reverse: create a multi-source config at CONFIG instead of using DIR.', helpValue: 'CONFIG' }),
    source: Flags.string({ description: 'A source of a multi-source config, as LABEL=PATH (repeatable).', multiple: true, helpValue: 'LABEL=PATH' }),
    scryptn: Flags.integer({ description: `scrypt cost as log2(N), ${MIN_LOG_N}…${MAX_LOG_N} (default ${DEFAULT_LOG_N}). Lower is faster to unlock and weaker against guessing.`, min: MIN_LOG_N, max: MAX_LOG_N }),
    aessiv: Flags.boolean({ description: 'Encrypt content with AES-SIV instead of AES-GCM (what reverse mode uses).' }),
    plaintextnames: Flags.boolean({ description: 'Do not encrypt file names and symlink targets.' }),
    'deterministic-names': Flags.boolean({ description: 'No per-directory IVs: equal names encrypt equally everywhere (fewer sync conflicts, more leaks).' }),
    config: Flags.string({ description: 'Write the config to FILE instead of into DIR (gocryptfs -config); mount with the same --config.', helpValue: 'FILE' }),
    quiet: Flags.boolean({ char: 'q', description: 'Print nothing but errors: no progress, no master key (gocryptfs -q).' }),
    longnamemax: Flags.integer({ description: `Hash encrypted names longer than N (${MIN_LONG_NAME_MAX}…${DEFAULT_LONG_NAME_MAX}; default ${DEFAULT_LONG_NAME_MAX}).`, min: MIN_LONG_NAME_MAX, max: DEFAULT_LONG_NAME_MAX }),
  };

  async run(): Promise<InitResult> {
    const { args, flags } = await this.parse(EncInit);
    const reverse = flags.reverse || flags.sources !== undefined;
    if (flags.sources !== undefined && args.dir !== undefined) throw new UsageError('--sources names the config to create; DIR is not expected with it');
    if (flags.source && flags.sources === undefined) throw new UsageError('--source needs --sources CONFIG');
    if (flags.sources === undefined && args.dir === undefined) throw new UsageError('a directory is required', 'see: kmx enc init --help');
    if (reverse && flags.plaintextnames) throw new UsageError('--plaintextnames is not supported with --reverse');
    if (flags.config !== undefined && flags.sources !== undefined) throw new UsageError('--sources names the config already; --config is not expected with it');

    // Everything that can be refused is refused before the password is asked for.
    let kind: InitResult['kind'];
    let dir = '';
    if (flags.sources !== undefined) {
      kind = 'sources';
      checkLabels((flags.source ?? []).map(parseSourceSpec), flags.sources);
    } else if (reverse) {
      kind = 'reverse';
      dir = await existingDirectory(args.dir!, 'plain directory');
      const existing = await readConfig(flags.config ?? reverseConfigPath(dir), dir).then((c: Config) => c, () => undefined);
      if (existing) throw new KmxError(`${dir} already has a reverse config`, { exitCode: ExitCode.cipherDirNotEmpty, hint: `mount it: kmx enc mount --reverse ${dir} MOUNTPOINT` });
    } else {
      kind = 'forward';
      dir = await existingDirectory(args.dir!, 'directory');
      if ((await readdir(dir)).length > 0) throw new KmxError(`${dir} is not empty`, { exitCode: ExitCode.cipherDirNotEmpty, hint: 'a CIPHERDIR starts empty: choose or create an empty directory' });
    }

    const password = await readPassword({ passfile: flags.passfile, extpass: flags.extpass }, { prompt: 'New password: ', confirm: true });
    const options = {
      password,
      configFile: flags.config,
      // At the default cost (N = 2^16) the key derivation is the slow part: say it has begun.
      onKeyDerivation: flags.quiet ? undefined : ({ N }: { N: number }) => this.logToStderr(`kmx enc: deriving the key from the password (scrypt N=${N}), please wait…`),
      creator: `kmx ${this.config.version}`,
      ...(flags.scryptn !== undefined ? { logN: flags.scryptn } : {}),
      aesSiv: flags.aessiv || reverse,
      plaintextNames: flags.plaintextnames,
      deterministicNames: flags['deterministic-names'],
      ...(flags.longnamemax !== undefined ? { longNameMax: flags.longnamemax } : {}),
    };
    let made: Initialized;
    try {
      if (kind === 'sources') made = await initSources(flags.sources!, (flags.source ?? []).map(parseSourceSpec), options);
      else if (kind === 'reverse') made = await initReverse(dir, options);
      else made = await initForward(dir, options);
    } finally {
      password.fill(0);
    }
    const { config, master } = made;

    const result: InitResult = {
      config: config.file, kind, contentEncryption: config.contentEncryption, featureFlags: config.json.FeatureFlags, scryptN: config.json.ScryptObject.N,
      ...(flags.quiet ? {} : { masterKey: formatMasterKey(master) }),
    };
    const withConfig = flags.config === undefined ? '' : `--config ${config.file} `;
    const next = kind === 'forward' ? `kmx enc mount ${withConfig}${dir} MOUNTPOINT` : kind === 'reverse' ? `kmx enc mount --reverse ${withConfig}${dir} MOUNTPOINT` : `kmx enc mount --sources ${config.file} MOUNTPOINT`;
    if (!flags.quiet) {
      this.log(masterKeyNotice(master, config.file));
      this.log(`created ${config.file} (${config.contentEncryption}, scrypt N=${config.json.ScryptObject.N}); mount with: ${next}`);
    }
    master.fill(0);
    return result;
  }
}

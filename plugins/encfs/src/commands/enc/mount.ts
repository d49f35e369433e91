import { Args, Flags } from '@oclif/core';
import { KmxError, MountCommand, UsageError, canonicalMountpoint, kmxPluginOf, mountAt, readMountinfo } from '@kmx/core';
import { nativeGcmStatus } from '../../lib/cryptocore/index.js';
import { ExitCode } from '../../lib/exitcodes/index.js';
import {
  GOCRYPTFS_MOUNT_SPELLINGS, checkSeparate, directoriesOf, loadTargetConfig, locateTarget, masterKeyFlag, openView, passwordFlags, plainTreeOf, targetFlags, unlockTarget,
} from '../../lib/cli/index.js';

export default class EncMount extends MountCommand {
  static override summary = 'Mount the plaintext view of a CIPHERDIR, or (--reverse) the encrypted view of plain directories.';
  static override description = `Forward (default): DIR is a CIPHERDIR made by kmx enc init or gocryptfs -init; the mount is its read-write plaintext view.
--reverse: DIR is a plain directory with a reverse config (kmx enc init --reverse, or gocryptfs -init -reverse); the mount is a read-only, deterministic encrypted view of it: back it up, and restore the copy with kmx enc mount or stock gocryptfs.
--sources CONFIG: several plain directories under one reverse mount, one top-level entry per source label; the config lives outside the sources.
The password comes from --passfile, --extpass, a hidden prompt, or a line of piped stdin; --masterkey (as init printed it) opens a CIPHERDIR whose password is lost. Runs in the foreground until interrupted or unmounted, saying when the filesystem is mounted and ready; --daemon detaches once the mount answers.
gocryptfs's spellings work too: -passfile, -extpass, -masterkey, -reverse, -ro, -allow_other, -config, -q; -fg and -nosyslog are accepted and change nothing (kmx stays in the foreground and logs no syslog).`;

  static override peerSpellings = GOCRYPTFS_MOUNT_SPELLINGS;

  static override examples = [
    { description: 'Mount a CIPHERDIR until Ctrl-C', command: '<%= config.bin %> enc mount ~/vault.enc ~/vault' },
    { description: 'Back up ciphertext: an encrypted view of ~/docs, no second copy on disk', command: '<%= config.bin %> enc mount --reverse --daemon ~/docs /tmp/docs.enc && rsync -a /tmp/docs.enc/ backup:docs.enc/' },
    { description: 'Several directories under one encrypted view', command: '<%= config.bin %> enc mount --sources ~/.config/kmx/backup.conf --daemon /tmp/backup.enc' },
    { description: 'Restore: mount the copy of a reverse view forward, read-only', command: '<%= config.bin %> enc mount --ro backup/docs.enc /tmp/docs' },
    { description: 'The password is lost: mount with the master key init printed (typed at a hidden prompt)', command: '<%= config.bin %> enc mount --masterkey stdin ~/vault.enc ~/vault' },
  ];

  static override args = {
    dir: Args.string({ description: 'CIPHERDIR, or the plain directory with --reverse (omitted with --sources).', required: false }),
    mountpoint: Args.string({ description: 'Existing directory to mount on.', required: false }),
  };

  static override flags = {
    ...passwordFlags,
    ...masterKeyFlag,
    ...targetFlags,
    ro: Flags.boolean({ description: 'Mount the plaintext view read-only (reverse views always are).' }),
    'allow-other': Flags.boolean({ description: 'Let other users use the mount (as -o allow_other; needs user_allow_other in /etc/fuse.conf for non-root).' }),
    quiet: Flags.boolean({ char: 'q', description: 'Do not say when the filesystem is mounted and ready.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(EncMount);
    const positional = [args.dir, args.mountpoint].filter((a): a is string => a !== undefined);
    const withSources = flags.sources !== undefined;
    if (positional.length !== (withSources ? 1 : 2)) {
      throw new UsageError(withSources ? 'with --sources give only the mountpoint' : 'give the directory and the mountpoint', 'see: kmx enc mount --help');
    }
    const mountpoint = await canonicalMountpoint(positional[positional.length - 1]!);
    const target = await locateTarget(withSources ? undefined : positional[0], flags);
    const config = await loadTargetConfig(target);
    const tree = target.kind === 'forward' ? undefined : await plainTreeOf(target, config);
    checkSeparate(mountpoint, [...directoriesOf(target, tree), ...(target.kind === 'sources' ? [target.configFile] : [])]);
    await refuseMountedMountpoint(mountpoint);

    const gcm = config.aesSiv ? undefined : nativeGcmStatus();
    if (gcm && !gcm.ok) this.logToStderr(`kmx enc: warning: AES-GCM content runs on Node's crypto, several times slower: ${gcm.reason} (see kmx doctor)`);

    const reverse = target.kind !== 'forward';
    // Names may be cached for a second; attributes not at all: the kernel caches them per path,
    // so after a change through one hard link another would show stale times or sizes.
    const fuseOptions = this.fuseOptions({ useIno: true, attrTimeout: 0, entryTimeout: 1, negativeTimeout: 0, ...(reverse || flags.ro ? { readOnly: true } : {}), ...(flags['allow-other'] ? { allowOther: true } : {}) }, flags.option);
    await this.serve<string>({
      plugin: 'enc',
      source: target.kind === 'sources' ? target.configFile : target.dir,
      mountpoint,
      fuseOptions,
      // Where the terminal is: ask, and unlock (a wrong password fails here, before any mount).
      prepare: async () => (await unlockTarget(target, config, flags)).toString('hex'),
      onReady: (at) => {
        if (!flags.quiet) this.log(`kmx enc: filesystem mounted and ready on ${at}`);
      },
      filesystem: (masterHex) => openView(target, config, Buffer.from(masterHex, 'hex'), { tree, mountpoint }),
    }, flags);
  }
}

/** The mountpoint's one check worth making before the password prompt: is something mounted there already? */
async function refuseMountedMountpoint(mountpoint: string): Promise<void> {
  const existing = mountAt(await readMountinfo(), mountpoint);
  if (!existing) return;
  const owner = kmxPluginOf(existing);
  throw new KmxError(`${mountpoint} is already a mount point (${owner ? `kmx ${owner}` : existing.fstype} from ${existing.source})`, {
    exitCode: ExitCode.mountPoint,
    hint: `unmount it first: ${owner ? 'kmx umount' : 'umount'} ${mountpoint}`,
  });
}

import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { KmxCommand, KmxError, SysError, existingDirectory, isWithin, toSysError } from '@kmx/core';
import { runBackup } from '../../lib/backup/backup.js';

/** existingDirectory, with a path that cannot be reached (a network mount whose server is down) told in one line. */
async function reachableDirectory(path: string, role: string): Promise<string> {
  try {
    return await existingDirectory(path, role);
  } catch (err) {
    const sys = toSysError(err);
    if (err instanceof KmxError || !(sys instanceof SysError)) throw err;
    throw new KmxError(`cannot reach ${role} ${path}: ${sys.message}`, { hint: 'if it is on a network mount, check that its server is up (kmx mounts)' });
  }
}

export default class NfsBackup extends KmxCommand {
  static override summary = 'Back up a directory to another (an NFS mount, typically) with rsync, once or watching for changes.';
  static override description = `A one-shot sync (rsync --archive) with a progress bar and a summary; --watch keeps going and syncs again shortly after changes stop (inotify). Safe to interrupt: partly copied files wait in .kmx-backup-partial in the target, and the next run resumes them. --delete also removes from the target what is gone from the source.
To back up ciphertext only, combine it with a reverse encrypted view: kmx enc mount --reverse ~/docs /tmp/docs.enc, then kmx nfs backup /tmp/docs.enc /run/media/$USER/nas/docs.`;

  static override examples = [
    { description: 'Sync once to an NFS mount', command: '<%= config.bin %> nfs backup ~/photos /run/media/$USER/nas/photos' },
    { description: 'Keep syncing as files change, removing what was deleted', command: '<%= config.bin %> nfs backup ~/work /run/media/$USER/nas/work --watch --delete' },
    { description: 'Back up only ciphertext', command: '<%= config.bin %> enc mount --reverse --daemon ~/docs /tmp/docs.enc && <%= config.bin %> nfs backup /tmp/docs.enc /run/media/$USER/nas/docs' },
  ];

  static override args = {
    source: Args.string({ description: 'Directory to back up.', required: true }),
    target: Args.string({ description: 'Directory to back up into (made if missing, its parent must exist).', required: true }),
  };

  static override flags = {
    watch: Flags.boolean({ description: 'After the first sync, watch the source and sync changes until interrupted.' }),
    delete: Flags.boolean({ description: 'Remove files from the target that are gone from the source.' }),
    bwlimit: Flags.integer({ description: 'Limit the transfer to this many KiB/s.', min: 1 }),
    debounce: Flags.integer({ description: 'With --watch: milliseconds without changes before syncing (default 1000).', min: 50, max: 600_000 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NfsBackup);
    const source = await reachableDirectory(args.source, 'source directory');
    const wanted = resolve(args.target);
    const target = join(await reachableDirectory(dirname(wanted), 'the target\'s parent directory'), basename(wanted));
    if (isWithin(target, source) || isWithin(source, target)) throw new KmxError(`the source ${source} and the target ${target} must not contain each other`);
    const existing = await stat(target).catch(() => undefined); // unreachable: rsync says why
    if (existing && !existing.isDirectory()) throw new KmxError(`target ${target} is not a directory`);
    await runBackup({
      source, target, delete: flags.delete, watch: flags.watch, debounceMs: flags.debounce ?? 1000, bwlimit: flags.bwlimit ?? 0,
      report: (line) => this.log(`kmx nfs backup: ${line}`),
    });
  }
}

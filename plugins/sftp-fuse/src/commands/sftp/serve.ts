import { homedir } from 'node:os';
import { Flags } from '@oclif/core';
import { KmxCommand, existingDirectory } from '@kmx/core';
import { SftpServer } from '../../lib/serve/server.js';

export default class SftpServe extends KmxCommand {
  static override summary = 'Serve a directory over SFTP v3 on stdin/stdout, confined to it.';
  static override description = `The far end of kmx sftp mount --via, of OpenSSH's sftp -D and of sshfs -o passive; or a confined replacement for sftp-server.
The root (default: your home directory) is served as /: no path can leave it, whether through .., absolute paths or symlinks (absolute or relative ones are resolved inside it, as in a chroot), and every request acts on what it resolved, never on a path again: lsetstat changes a symlink's own owner and times and refuses a size on it. A hard link inside the root to a file elsewhere is that file, and is served. Announces posix-rename, statvfs, hardlink, fsync, lsetstat and limits (the OpenSSH extensions), and kmx-posix@kmx.invalid for a kmx client: link counts, inode numbers and nanosecond times in attributes, times set with nanoseconds, and FIFOs and sockets made with mknod (never device nodes). Runs as the calling user, until stdin closes; messages go to stderr.`;

  static override examples = [
    { description: 'Browse a directory with OpenSSH\'s sftp, no SSH involved', command: 'sftp -D "<%= config.bin %> sftp serve --root /srv/share"' },
    { description: 'Mount it with kmx through the same pipe', command: '<%= config.bin %> sftp mount --via \'<%= config.bin %> sftp serve --root /srv/share --read-only\' local: /mnt/share' },
    { description: 'As a Qubes service (qubes.MountReadWrite) in the serving qube', command: 'exec <%= config.bin %> sftp serve --root /home/user' },
  ];

  static override flags = {
    root: Flags.string({ description: 'Directory served as / (default: your home directory).' }),
    'read-only': Flags.boolean({ description: 'Refuse every change (writes, creates, renames, removals, setstat).' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SftpServe);
    const root = await existingDirectory(flags.root ?? homedir(), 'root directory');
    const server = new SftpServer(process.stdin, process.stdout, {
      root,
      readOnly: flags['read-only'],
      log: (line) => process.stderr.write(`kmx sftp serve: ${line}\n`),
    });
    await server.ended;
    // stdout may still hold replies; let it drain before the process ends.
    await new Promise<void>((resolve) => (process.stdout.writableLength === 0 ? resolve() : process.stdout.once('drain', () => resolve())));
  }
}

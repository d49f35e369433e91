import { Flags } from '@oclif/core';
import { KmxCommand, UsageError } from '@kmx/core';
import { runUi } from '../lib/launch/run-ui.js';
import { VIEWS, type View } from '../lib/server/server.js';

export default class Ui extends KmxCommand {
  static override summary = 'Serve a local web application for mounts, namespaces and procsys clusters, and print its URL.';
  static override description = `Bound to 127.0.0.1 (or a UNIX socket with --socket, mode 0600), for you alone: the URL carries a random key that the page swaps for a cookie, and connections from any other user's processes are refused. The page mounts and unmounts as you (passwords it asks for go to the plugin's standard input), shows namespaces as kmx ns does, and a procsys cluster's hosts.
Opens the URL with xdg-open when there is a desktop ($DISPLAY or $WAYLAND_DISPLAY); --no-open only prints it. Runs until interrupted. See docs/ui.md for the security model.`;

  static override examples = [
    { description: 'Serve on a free port and open the browser', command: '<%= config.bin %> ui' },
    { description: 'Print the URL of the namespaces view only', command: '<%= config.bin %> ui --no-open --view ns' },
    { description: 'Open a server of yours that is already running, or start one', command: '<%= config.bin %> ui --reuse' },
    { description: 'On a UNIX socket (for ssh -L or curl --unix-socket)', command: '<%= config.bin %> ui --socket $XDG_RUNTIME_DIR/kmx-ui.sock' },
  ];

  static override flags = {
    port: Flags.integer({ char: 'p', description: 'TCP port on 127.0.0.1 (default: any free one).', min: 0, max: 65535, exclusive: ['socket'] }),
    socket: Flags.string({ description: 'Listen on this UNIX socket (made 0600) instead of TCP.' }),
    view: Flags.string({ description: `The view to open: ${VIEWS.join(', ')}.`, default: 'mounts' }),
    open: Flags.boolean({ description: 'Open the URL with xdg-open when there is a desktop.', default: true, allowNo: true }),
    reuse: Flags.boolean({ description: 'If a server of yours is running, print (and open) its URL instead of starting another.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ui);
    if (!(VIEWS as readonly string[]).includes(flags.view)) throw new UsageError(`unknown view ${flags.view}`, `one of ${VIEWS.join(', ')}`);
    if (flags.socket !== undefined && !flags.socket.startsWith('/')) throw new UsageError('--socket needs an absolute path');
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await runUi({
      listen: flags.socket !== undefined ? { socket: flags.socket } : { port: flags.port ?? 0 },
      view: flags.view as View,
      open: flags.open,
      reuse: flags.reuse,
      // This very kmx, started again for each mount and listing the page asks for.
      kmx: { node: process.execPath, script: process.argv[1]! },
      say: (line) => this.log(line),
      log: (line) => process.stderr.write(`kmx ui: ${line}\n`),
    }, stopped);
  }
}

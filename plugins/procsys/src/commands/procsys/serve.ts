import { Flags } from '@oclif/core';
import { KmxCommand } from '@kmx/core';
import { serveAgent } from '../../lib/rpc/serve-agent.js';
import { securityFlags } from '../../lib/view/options.js';

export default class Serve extends KmxCommand {
  static override summary = 'Serve this host\'s /proc to kmx procsys mounts on other hosts (gRPC, mutual TLS).';
  static override description = `The agent of a merged view. It answers with what any unprivileged user of this host could read (world-readable files; no process memory maps, environments or fds), over gRPC with mutual TLS: clients need a certificate from the same cluster CA (kmx procsys certs). Plain TCP only with --insecure.
Runs until interrupted; prints the address it listens on (port 0 picks a free one).`;

  static override examples = [
    { description: 'Serve on all interfaces, port 7447, with certificates made by kmx procsys certs', command: '<%= config.bin %> procsys serve --listen 0.0.0.0:7447 --certs ~/kmx-certs --name web' },
    { description: 'Serve on loopback without TLS (a quick local try)', command: '<%= config.bin %> procsys serve --listen 127.0.0.1:0 --insecure' },
  ];

  static override flags = {
    ...securityFlags,
    listen: Flags.string({ description: 'HOST:PORT to listen on (port 0: a free one).', default: '0.0.0.0:7447' }),
    writable: Flags.boolean({ description: 'Let clients mounted with --writable write below sys/.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    const agent = await serveAgent(flags.listen, flags, (line) => this.log(`kmx procsys: ${line}`));
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, stop);
        void agent.stop().then(resolve);
      };
      // Also when this is pid 1 of a pid namespace, which ignores signals without a handler.
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
    });
  }
}

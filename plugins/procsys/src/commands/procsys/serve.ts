import { Flags } from '@oclif/core';
import { KmxCommand, UsageError } from '@kmx/core';
import { serveAgent } from '../../lib/rpc/serve-agent.js';
import { agentFlags, securityFlags } from '../../lib/view/options.js';

export default class Serve extends KmxCommand {
  static override summary = 'Serve this host\'s /proc to kmx procsys mounts on other hosts (gRPC, mutual TLS).';
  static override description = `The agent of a merged view, over gRPC with mutual TLS: clients need a certificate from the same cluster CA (kmx procsys certs) that the revocation list (revoked.txt in --certs, or --revoked) does not name. Plain TCP only with --insecure.
Every read, listing and link a client asks for is carried out by a separate process running as an unprivileged user (--read-as, default nobody) with no capabilities, so clients get exactly what that user gets from this host's /proc: another user's process shows no environment, fds or kernel addresses, /proc/iomem shows zeros. Writes reach only the /proc/sys keys listed in --writable-keys FILE.
Runs until interrupted; prints the address it listens on (port 0 picks a free one).`;

  static override examples = [
    { description: 'Serve on all interfaces, port 7447, with certificates made by kmx procsys certs', command: '<%= config.bin %> procsys serve --listen 0.0.0.0:7447 --certs ~/kmx-certs --name web' },
    { description: 'Serve on loopback without TLS (a quick local try)', command: '<%= config.bin %> procsys serve --listen 127.0.0.1:0 --insecure' },
    { description: 'Let clients change two sysctl keys, and nothing else', command: 'printf "kernel/printk_ratelimit\\nkernel/printk_ratelimit_burst\\n" > /etc/kmx-writable-keys && <%= config.bin %> procsys serve --certs ~/kmx-certs --name web --writable-keys /etc/kmx-writable-keys' },
  ];

  static override flags = {
    ...securityFlags,
    ...agentFlags,
    listen: Flags.string({ description: 'HOST:PORT to listen on (port 0: a free one).', default: '0.0.0.0:7447' }),
    // Gave every root-writable sysctl to every certificate holder: now --writable-keys FILE.
    writable: Flags.boolean({ hidden: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve);
    if (flags.writable) throw new UsageError('--writable is gone: list the keys clients may write in a file and pass --writable-keys FILE', 'one key a line, e.g. kernel/printk_ratelimit_burst');
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

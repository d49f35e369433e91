import { parseArgs } from 'node:util';
import { KmxError } from '../errors/index.js';
import { DEFAULT_CONFIG_PATH, DEFAULT_POLICY, loadPolicy } from './config.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { DEFAULT_DAEMON_OPTIONS, Kmxd, type DaemonOptions } from './server.js';

export const KMXD_HELP = `kmxd — the root daemon behind \`kmx nfs mount\`

Usage: kmxd [options]

Listens on a UNIX socket that any local user may connect to. Who is asking comes only from the
socket (SO_PEERCRED, SO_PEERPIDFD), never from a request. A user may mount only at
/run/media/$USER/<name> (made by kmxd), always nosuid,nodev, with options from an allow-list;
may have a symlink made in their own home (made as them); may unmount only what kmxd mounted
for them. Log lines read \`who | message\` on stderr.

Options:
  --socket PATH              socket to listen on (default ${DEFAULT_DAEMON_OPTIONS.socketPath}); with
                             systemd socket activation (LISTEN_FDS) the passed socket is used
  --state-dir DIR            where kmxd keeps its mount registry (default ${DEFAULT_DAEMON_OPTIONS.stateDir})
  --media-dir DIR            the root of users' mount directories (default ${DEFAULT_DAEMON_OPTIONS.mediaDir})
  --log-level LEVEL          error, warn, info or debug (default ${DEFAULT_DAEMON_OPTIONS.logLevel})
  --max-clients-per-user N   connections one user may hold at once (default ${DEFAULT_DAEMON_OPTIONS.maxClientsPerUser})
  --config FILE              root's policy (default ${DEFAULT_CONFIG_PATH}; none: the defaults below)
  -h, --help                 this text

The policy file holds \`setting value…\` lines (# starts a comment):
  max-mounts-per-user N      mounts one user may hold (default ${DEFAULT_POLICY.maxMountsPerUser})
  max-tmpfs-mib-per-user N   the sum of one user's tmpfs sizes in MiB (default ${DEFAULT_POLICY.maxTmpfsMibPerUser})
  nfs-servers A…             NFS servers allowed: addresses, ranges (10.0.0.0/8, fd00::/8) and
                             host names (default: any address but loopback, 0.0.0.0/8,
                             link-local, multicast and reserved ones, which are never allowed)
  nfs-ports P…               NFS ports a mount may use (default ${DEFAULT_POLICY.nfsPorts.join(' ')})
  nfs-mount-ports P…         NFSv3 mountd ports a mount may name (default ${DEFAULT_POLICY.nfsMountPorts.join(' ')};
                             without one the kernel asks the server's rpcbind)
  smb-servers A…             SMB servers allowed, as nfs-servers (default: any but those never allowed)
  smb-ports P…               SMB ports a mount may use (default ${DEFAULT_POLICY.smbPorts.join(' ')})
A user asking for more gets EDQUOT (limits) or EACCES (servers, ports), in one line.

Without systemd: run it as root in the background and keep its log, e.g.
  nohup kmxd --log-level info >>/var/log/kmxd.log 2>&1 &
or under any supervisor (runit, s6, supervisord) as a foreground process; SIGTERM stops it.
`;

/** The systemd socket-activation fd (3) when LISTEN_FDS is meant for this process. */
function systemdSocket(): number | undefined {
  if (process.env.LISTEN_PID !== String(process.pid) || Number(process.env.LISTEN_FDS ?? 0) < 1) return undefined;
  return 3;
}

export function parseDaemonArgs(argv: readonly string[]): DaemonOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      socket: { type: 'string' }, 'state-dir': { type: 'string' }, 'media-dir': { type: 'string' },
      'log-level': { type: 'string' }, 'max-clients-per-user': { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const level = values['log-level'] ?? DEFAULT_DAEMON_OPTIONS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new KmxError(`unknown log level "${level}"`, { hint: `choose one of ${LOG_LEVELS.join(', ')}`, exitCode: 2 });
  const perUser = Number(values['max-clients-per-user'] ?? DEFAULT_DAEMON_OPTIONS.maxClientsPerUser);
  if (!Number.isInteger(perUser) || perUser < 1) throw new KmxError('--max-clients-per-user needs a whole number above 0', { exitCode: 2 });
  for (const key of ['socket', 'state-dir', 'media-dir', 'config'] as const) {
    const value = values[key];
    if (value !== undefined && !value.startsWith('/')) throw new KmxError(`--${key} needs an absolute path`, { exitCode: 2 });
  }
  const listenFd = systemdSocket();
  return {
    ...DEFAULT_DAEMON_OPTIONS,
    socketPath: values.socket ?? DEFAULT_DAEMON_OPTIONS.socketPath,
    stateDir: values['state-dir'] ?? DEFAULT_DAEMON_OPTIONS.stateDir,
    mediaDir: (values['media-dir'] ?? DEFAULT_DAEMON_OPTIONS.mediaDir).replace(/\/+$/, ''),
    logLevel: level as LogLevel,
    maxClientsPerUser: perUser,
    policy: loadPolicy(values.config ?? DEFAULT_CONFIG_PATH),
    ...(listenFd !== undefined ? { listenFd } : {}),
  };
}

/** The kmxd program: parse, refuse non-root, serve until SIGTERM/SIGINT. Resolves with an exit code. */
export async function kmxdMain(argv: readonly string[]): Promise<number> {
  let options: DaemonOptions | 'help';
  try {
    options = parseDaemonArgs(argv);
  } catch (err) {
    process.stderr.write(`kmxd: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}; see kmxd --help\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(KMXD_HELP);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('kmxd: must run as root (it mounts for other users); see kmxd --help\n');
    return 1;
  }
  process.umask(0o022);
  const daemon = new Kmxd(options);
  try {
    await daemon.start();
  } catch (err) {
    const hint = err instanceof KmxError && err.hint ? `; ${err.hint}` : '';
    process.stderr.write(`kmxd: ${err instanceof Error ? err.message : String(err)}${hint}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await daemon.stop();
  return 0;
}

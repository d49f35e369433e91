import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { Duplex } from 'node:stream';
import { KmxError } from '@kmx/core';
import { shellQuote, watchComplaints } from '../child/shell.js';

/** The byte stream SSH runs over: a TCP connection, or a proxy command's stdin and stdout. */
export interface Carrier {
  stream: Duplex;
  /** What it is, for messages ("127.0.0.1:22", "ProxyJump bastion"). */
  what: string;
  /** Called once with a one-line reason when the carrier fails before SSH is up. */
  onFailure(listener: (error: KmxError) => void): void;
  /**
   * The reason to report for `error` seen by SSH: a proxy command's own (its exit and last
   * words, waited for a moment, since SSH sees the stream end first), else `error` itself.
   */
  explain(error: KmxError): Promise<KmxError>;
  /** SSH is up: from now on a proxy command's complaints go to the log (before, to the error). */
  established(): void;
  /** Fires when the stream is connected (at once for a proxy command). */
  onConnect(listener: () => void): void;
  close(): void;
}

/** How to reach the server: directly, or through ssh_config's ProxyCommand or ProxyJump. */
export interface Route {
  host: string;
  port: number;
  user: string;
  alias: string;
  proxyCommand: string | undefined;
  proxyJump: string | undefined;
  /** The -F given to kmx, passed on to the ssh that makes a ProxyJump hop. */
  configFile: string | undefined;
  batchMode: boolean;
}

/** How long a proxy command that closed its stream may take to exit and say why. */
const PROXY_EXIT_WAIT_MS = 2000;

/** ProxyCommand's %-tokens (ssh_config(5)): %h %p %r %n %%. */
export function expandProxyTokens(command: string, route: Pick<Route, 'host' | 'port' | 'user' | 'alias'>): string {
  return command.replace(/%([%hnpr])/g, (_, t: string) => {
    switch (t) {
      case 'h': return route.host;
      case 'p': return String(route.port);
      case 'r': return route.user;
      case 'n': return route.alias;
      default: return '%';
    }
  });
}

/** One ProxyJump hop, [user@]host[:port] (or an ssh:// URI), as ssh's -l, -p and host. */
function hopArgs(hop: string): string[] {
  const uri = /^ssh:\/\/(?:([^@]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(hop);
  const plain = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hop);
  const m = uri ?? plain;
  if (!m) throw new KmxError(`ProxyJump ${hop} is not [user@]host[:port]`, { hint: 'check ProxyJump in ~/.ssh/config or -o' });
  const host = m[2]!.replace(/^\[(.*)\]$/, '$1');
  return [...(m[1] ? ['-l', m[1]] : []), ...(m[3] ? ['-p', m[3]] : []), '--', host];
}

/**
 * ProxyJump as OpenSSH runs it: `ssh -W host:port` through the last hop, the hops before it
 * as that ssh's own -J. The user's ssh does the hops (their keys, agent and known_hosts).
 */
export function proxyJumpCommand(route: Route): string {
  const hops = route.proxyJump!.split(',').map((h) => h.trim()).filter(Boolean);
  const last = hops.pop()!;
  const args = [
    'ssh',
    ...(route.configFile ? ['-F', route.configFile] : []),
    ...(route.batchMode ? ['-o', 'BatchMode=yes'] : []),
    ...(hops.length > 0 ? ['-J', hops.join(',')] : []),
    '-W', `[${route.host}]:${route.port}`,
    ...hopArgs(last),
  ];
  return args.map(shellQuote).join(' ');
}

/** Opens the carrier for `route`: TCP with TCP_NODELAY, or the proxy command under /bin/sh. */
export function openCarrier(route: Route, log: (line: string) => void): Carrier {
  const proxy = route.proxyJump ? proxyJumpCommand(route) : route.proxyCommand ? expandProxyTokens(route.proxyCommand, route) : undefined;
  if (proxy === undefined) {
    const socket = tcpConnect({ host: route.host, port: route.port });
    // Every SFTP request waits for its answer; Nagle's algorithm would hold small ones back.
    socket.setNoDelay(true);
    return {
      stream: socket,
      what: `${route.host}:${route.port}`,
      onFailure: (listener) => socket.once('error', (err: Error & { code?: string }) => listener(socketError(route, err))),
      onConnect: (listener) => socket.once('connect', listener),
      explain: (error) => Promise.resolve(error),
      established: () => undefined,
      close: () => socket.destroy(),
    };
  }
  const via = route.proxyJump ? `ProxyJump ${route.proxyJump}` : 'ProxyCommand';
  // "exec", as ssh runs it: the proxy is the child itself, so stopping it stops the proxy.
  const child = spawn('/bin/sh', ['-c', `exec ${proxy}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  const complaints = watchComplaints(child.stderr, log, via);
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  stream.on('error', () => undefined); // reported through the child's exit
  const failures: Array<(error: KmxError) => void> = [];
  let failure: KmxError | undefined;
  const fail = (why: string): void => {
    failure ??= new KmxError(`${via} to ${route.host}:${route.port} ${why}${complaints.last() ? `: ${complaints.last()}` : ''}`, { hint: `check it: ${proxy}` });
    for (const listener of failures.splice(0)) listener(failure);
  };
  child.once('error', (err) => fail(`could not start (${err.message})`));
  child.once('close', (code, signal) => fail(`ended (${signal ?? `exit code ${code}`})`));
  return {
    stream,
    what: via,
    onFailure: (listener) => failures.push(listener),
    onConnect: (listener) => setImmediate(listener),
    explain: (error) => new Promise((resolve) => {
      if (failure) return resolve(failure);
      const timer = setTimeout(() => resolve(error), PROXY_EXIT_WAIT_MS);
      failures.push((f) => {
        clearTimeout(timer);
        resolve(f);
      });
    }),
    established: () => complaints.established(),
    close: () => {
      stream.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

export function socketError(route: Pick<Route, 'host' | 'port' | 'alias'>, err: Error & { code?: string }): KmxError {
  const where = `${route.host}:${route.port}`;
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new KmxError(`unknown host ${route.host}${route.alias !== route.host ? ` (from ${route.alias})` : ''}`, { hint: 'check the name, or define it as a Host in ~/.ssh/config' });
    case 'ECONNREFUSED':
      return new KmxError(`${where} refused the connection`, { hint: 'is an SSH server running there, on that port?' });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new KmxError(`${where} is unreachable (${err.code})`, { hint: 'check the network and the address' });
    default:
      return new KmxError(`connecting to ${where} failed: ${err.message}`);
  }
}

import { readFileSync } from 'node:fs';
import { KmxError } from '@kmx/core';
import ssh2, { type AnyAuthMethod, type AuthenticationType, type ConnectConfig, type ParsedKey } from 'ssh2';
import type { Duplex, Writable } from 'node:stream';
import { algorithms, type AlgorithmLists } from './algorithms.js';
import { openCarrier, socketError, type Route } from './carrier.js';
import { decideHostKey } from './host-key-check.js';
import { recycleOutgoingPackets } from './packet-pool.js';

const { Client, utils } = ssh2;

/** Everything needed to reach and log in to one SSH server. */
export interface SshOptions extends Route, AlgorithmLists {
  /** The host as the user typed it (an alias), for messages. */
  alias: string;
  host: string;
  port: number;
  user: string;
  /** Private key files to offer, in order (-i first, then ~/.ssh/config, then the defaults). */
  identityFiles: string[];
  /** ssh-agent's socket, unless IdentitiesOnly. */
  agent: string | undefined;
  knownHostsFiles: string[];
  /** Where a newly accepted key is recorded. */
  knownHostsFile: string;
  /**
   * yes: only known keys; ask: as yes, but an unknown key is shown on the terminal and recorded
   * if the user says so (ssh's default); accept-new: record unknown keys (never changed ones);
   * no: anything.
   */
  hostKeyPolicy: 'yes' | 'ask' | 'accept-new' | 'no';
  /** No questions on the terminal (ssh's BatchMode): no password, no host key prompt. */
  batchMode: boolean;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  passwordAuthentication: boolean;
  /** sshfs's sftp_server: another subsystem name, or a program path run on the server. */
  sftpServer: string | undefined;
}

/** What the terminal side learnt and the serving process needs: the password, if one was asked for. */
export interface SshSecrets {
  password?: string;
}

/** No configured way to log in worked (keys, agent, password). */
export class AuthenticationFailed extends KmxError {
  constructor(message: string, hint: string | undefined, readonly passwordOffered: boolean) {
    super(message, { hint });
    this.name = 'AuthenticationFailed';
  }

  static of(options: SshOptions, passwordOffered: boolean, tried: string[], passwordTried: boolean): AuthenticationFailed {
    return new AuthenticationFailed(passwordTried
      ? `${options.user}@${options.alias}: the password was refused`
      : `${options.user}@${options.alias} refused every way kmx could log in (${tried.length > 0 ? tried.join(', ') : 'no key found'})`,
    passwordTried ? 'check the password' : 'give a key with -i KEY, load one into ssh-agent, or add your public key to the server\'s authorized_keys',
    passwordOffered);
  }
}

interface LoadedKey {
  file: string;
  key: ParsedKey;
}

/** The identity files that exist and parse without a passphrase (encrypted ones need the agent). */
function loadKeys(files: readonly string[], unusable: string[]): LoadedKey[] {
  const keys: LoadedKey[] = [];
  for (const file of files) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      continue;
    }
    const parsed = utils.parseKey(data);
    if (parsed instanceof Error) {
      unusable.push(file); // encrypted (its agent can offer it) or not a key kmx reads
      continue;
    }
    keys.push({ file, key: Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed });
  }
  return keys;
}

/** An SSH connection's "sftp" subsystem channel: raw SFTP bytes both ways. */
export interface SftpChannel {
  channel: Duplex;
  /** The byte stream under it (TCP, or a proxy command's pipes). */
  carrier: Writable;
  /** Ends the SSH connection. */
  close(): void;
  /** Called once when the connection is gone. */
  onClose(listener: (reason: string) => void): void;
}

/**
 * Opens an SSH connection and its "sftp" subsystem, directly or through ProxyCommand /
 * ProxyJump. Host keys are checked against known_hosts; logins are tried with ssh-agent, then
 * each key file, then the password when one is given, in the order ssh uses.
 */
export function openSftpChannel(options: SshOptions, secrets: SshSecrets, log: (line: string) => void): Promise<SftpChannel> {
  const algorithmsToOffer = algorithms(options);
  return new Promise((resolve, reject) => {
    let settled = false;
    let failure: KmxError | undefined;
    let passwordOffered = false;
    let passwordTried = false;
    const tried: string[] = [];
    const client = new Client();
    const finish = (err: Error | undefined, channel?: SftpChannel): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        client.end();
        carrier.close();
        reject(err);
      } else {
        resolve(channel!);
      }
    };
    const carrier = openCarrier(options, log);
    recycleOutgoingPackets(client, carrier.stream);
    // kmx's own deadline for the whole login, stopped while the user answers a question.
    const startTimer = (): NodeJS.Timeout => setTimeout(() => finish(new KmxError(`${options.host}:${options.port} did not answer within ${Math.round(options.connectTimeoutMs / 1000)} s${carrier.what.startsWith('Proxy') ? ` (through ${carrier.what})` : ''}`, {
      hint: 'check the host and port; -o ConnectTimeout=S waits longer',
    })), options.connectTimeoutMs);
    let timer = startTimer();
    carrier.onFailure((err) => finish(err));

    const unusable: string[] = [];
    const keys = loadKeys(options.identityFiles, unusable);
    const methods: AnyAuthMethod[] = [];
    if (options.agent) methods.push({ type: 'agent', username: options.user, agent: options.agent });
    for (const { key } of keys) methods.push({ type: 'publickey', username: options.user, key });
    if (secrets.password !== undefined && options.passwordAuthentication) {
      const password = secrets.password;
      methods.push({ type: 'password', username: options.user, password });
      methods.push({
        type: 'keyboard-interactive',
        username: options.user,
        prompt: (_name, _instructions, _lang, prompts, finishPrompt) => finishPrompt(prompts.map(() => password)),
      });
    }
    const authHandler = (left: AuthenticationType[] | null, _partial: boolean | null, next: (method: AnyAuthMethod | false) => void): void => {
      // First "none", as ssh does: the server's answer lists what it accepts (a password?).
      if (left === null) return next({ type: 'none', username: options.user });
      if (left?.includes('password') || left?.includes('keyboard-interactive')) passwordOffered = true;
      while (methods.length > 0) {
        const method = methods.shift()!;
        // An agent's keys are offered as "publickey", the server's name for them.
        if (left && !left.includes(method.type === 'agent' ? 'publickey' : method.type)) continue;
        if (method.type === 'password' || method.type === 'keyboard-interactive') passwordTried = true;
        tried.push(method.type === 'publickey' ? `key ${keys.find((k) => k.key === method.key)?.file ?? ''}` : method.type === 'agent' ? 'ssh-agent' : method.type);
        return next(method);
      }
      return next(false);
    };

    const config: ConnectConfig = {
      sock: carrier.stream,
      username: options.user,
      readyTimeout: 0, // kmx's timer above
      keepaliveInterval: options.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax,
      algorithms: algorithmsToOffer,
      authHandler: authHandler as unknown as ConnectConfig['authHandler'],
      hostVerifier: ((blob: Buffer, answer: (accept: boolean) => void): void => {
        const paused = (waiting: boolean): void => {
          // The user is reading ssh's question: kmx's deadline waits too.
          clearTimeout(timer);
          if (!waiting) timer = startTimer();
        };
        const settings = { ...options, proxied: options.proxyCommand !== undefined || options.proxyJump !== undefined };
        void decideHostKey(settings, blob, log, paused).then((verdict) => {
          if (verdict !== true) failure = verdict;
          answer(verdict === true);
        });
      }) as unknown as ConnectConfig['hostVerifier'],
    };

    client.on('error', (err: Error & { level?: string }) => {
      if (failure) return finish(failure);
      if (err.level === 'client-authentication') {
        const failed = AuthenticationFailed.of(options, passwordOffered, tried, passwordTried);
        if (unusable.length === 0 || passwordTried) return finish(failed);
        return finish(new AuthenticationFailed(failed.message, `${unusable.join(', ')} could not be used without a passphrase: add it to ssh-agent (ssh-add), or give another key with -i`, passwordOffered));
      }
      if (err.level === 'client-timeout') return finish(new KmxError(`${options.host}:${options.port} did not finish the SSH handshake within ${Math.round(options.connectTimeoutMs / 1000)} s`));
      const seen = err.level === 'client-socket' ? socketError(options, err) : new KmxError(`SSH connection to ${options.host}:${options.port} failed: ${err.message}`);
      void carrier.explain(seen).then((reason) => finish(reason));
    });
    client.on('close', () => {
      if (failure) return finish(failure);
      void carrier.explain(new KmxError(`${options.host}:${options.port} closed the connection during the SSH handshake`)).then((reason) => finish(reason));
    });
    client.on('ready', () => {
      carrier.established();
      const server = options.sftpServer ?? 'sftp';
      const started = (err: Error | undefined, channel: ssh2.ClientChannel): void => {
        if (err) {
          return finish(new KmxError(`${options.alias} has no SFTP service${options.sftpServer ? ` ${server}` : ''}: ${err.message}`, {
            hint: options.sftpServer ? 'check -o sftp_server' : 'the server needs "Subsystem sftp …" in its sshd_config',
          }));
        }
        let closed: string | undefined;
        const listeners: Array<(reason: string) => void> = [];
        const gone = (reason: string): void => {
          if (closed !== undefined) return;
          closed = reason;
          for (const l of listeners.splice(0)) l(reason);
        };
        client.on('close', () => gone('the SSH connection closed'));
        client.on('error', (e: Error) => gone(`SSH error: ${e.message}`));
        client.on('close', () => carrier.close());
        finish(undefined, {
          channel,
          carrier: carrier.stream,
          close: () => client.end(),
          onClose: (listener) => (closed !== undefined ? listener(closed) : listeners.push(listener)),
        });
      };
      // A path is a program the server runs (sshfs's sftp_server=/usr/lib/...); else a subsystem.
      if (server.includes('/')) client.exec(server, (err, channel) => started(err, channel));
      else client.subsys(server, (err, channel) => started(err, channel));
    });
    carrier.onConnect(() => client.connect(config));
  });
}

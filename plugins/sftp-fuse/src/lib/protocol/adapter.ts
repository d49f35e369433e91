import { createRequire } from 'node:module';
import type { Readable, Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { DataReplyRouter } from './direct-io.js';
import { Scavenger } from './scavenger.js';

/**
 * ssh2's SFTP class speaks SFTP v3 (client or server) over an SSH channel. It touches the
 * channel only through a few members, so a small stand-in lets it run over any byte stream:
 * a command's stdin/stdout (`--via`), an SSH "sftp" subsystem channel, or kmx's own stdio
 * (`kmx sftp serve`). These are ssh2 internals, hence the exact version pin and the checks
 * below (and the test that runs them): an ssh2 upgrade that changes them fails loudly.
 */

/** The ssh2 version whose internals this adapter was written against. */
export const SSH2_VERSION = '1.17.0';

const require = createRequire(import.meta.url);

interface Ssh2SftpModule {
  SFTP: new (client: unknown, chanInfo: unknown, cfg: { server?: boolean; debug?: (line: string) => void }) => SFTPInternals;
}

/** The members of ssh2's SFTP object the adapter relies on (beyond the public SFTPWrapper). */
export interface SFTPInternals extends SFTPWrapper {
  push(data: Buffer | null): void;
  _init(): void;
  _extensions: Record<string, string>;
  _maxReadLen: number;
  _maxWriteLen: number;
  _isOpenSSH: boolean;
  /** The id of the last request sent (writeInPlace takes the next one, as ssh2 does). */
  _writeReqid: number;
  /** Requests awaiting a reply, by id (DataReplyRouter completes READs from here). */
  _requests: Record<number, { buffer?: Buffer; cb?: (err: Error | undefined, buffer?: Buffer, bytes?: number) => void } | undefined>;
  outgoing: { state: string };
}

const INTERNAL_MEMBERS = ['push', '_init', '_extensions', '_maxReadLen', '_maxWriteLen', '_isOpenSSH', '_writeReqid', '_requests', 'outgoing', 'server'] as const;

let checked: Ssh2SftpModule | undefined;

/** ssh2's SFTP module, after checking that it is the version and shape this adapter knows. */
export function ssh2Sftp(): Ssh2SftpModule {
  if (checked) return checked;
  const version = (require('ssh2/package.json') as { version: string }).version;
  if (version !== SSH2_VERSION) {
    throw new Error(`kmx sftp was built against ssh2 ${SSH2_VERSION} but found ${version}: its SFTP adapter relies on ssh2 internals; pin ${SSH2_VERSION} or re-check the adapter`);
  }
  const module = require('ssh2/lib/protocol/SFTP.js') as Ssh2SftpModule;
  const probe = new module.SFTP(fakeClient(() => undefined, () => undefined, true), channelInfo(), {});
  const missing = INTERNAL_MEMBERS.filter((m) => !(m in probe));
  if (missing.length > 0) throw new Error(`ssh2 ${version}'s SFTP class lacks ${missing.join(', ')}: the kmx SFTP adapter needs updating`);
  checked = module;
  return module;
}

/** What ssh2's SFTP class reads from its "client": the SSH protocol object's send and close. */
function fakeClient(send: (data: Buffer) => void, close: () => void, openssh: boolean): unknown {
  return {
    _protocol: {
      // OpenSSH's (and every common server's) SYMLINK argument order and 256 KiB packets.
      _remoteIdentRaw: openssh ? 'SSH-2.0-OpenSSH_kmx' : 'SSH-2.0-kmx',
      channelData: (_id: number, data: Buffer) => send(data),
      channelClose: () => close(),
    },
  };
}

/** A channel without SSH flow control: the byte stream's own back-pressure is all there is. */
function channelInfo(): unknown {
  const side = () => ({ id: 0, window: Infinity, packetSize: Infinity, state: 'open' });
  return { type: 'sftp', incoming: side(), outgoing: side() };
}

/** Each adapted SFTP object's way out, for requests kmx writes itself (writeInPlace). */
const senders = new WeakMap<SFTPInternals, (packet: Buffer) => void>();

/** Sends raw SFTP bytes on `sftp`'s stream, in order with ssh2's own output. */
export function packetSender(sftp: SFTPInternals): (packet: Buffer) => void {
  const send = senders.get(sftp);
  if (!send) throw new Error('this SFTP object was not made by sftpOverStream');
  return send;
}

export interface StreamSftp {
  readonly sftp: SFTPInternals;
  /** Writes a raw SFTP packet (length-prefixed) in order with the class's own output. */
  sendPacket(packet: Buffer): void;
}

export interface AdapterOptions {
  server?: boolean;
  /**
   * The stream that finally carries the bytes (a socket, a pipe), to be corked for the rest
   * of the tick whenever a packet goes out: the requests of one FUSE wakeup (a read-ahead
   * window, a split write) then leave in one system call instead of one each.
   */
  carrier?: Writable;
  /** Server side: extensions announced in VERSION (ssh2's server announces none). */
  extensions?: Record<string, string>;
  debug?: (line: string) => void;
}

const SSH_FXP_VERSION = 2;

/** A VERSION packet announcing protocol 3 and `extensions`. */
function versionPacket(extensions: Record<string, string>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, 0, 0, 0, SSH_FXP_VERSION, 0, 0, 0, 3])];
  for (const [name, data] of Object.entries(extensions)) parts.push(sshString(name), sshString(data));
  const packet = Buffer.concat(parts);
  packet.writeUInt32BE(packet.length - 4, 0);
  return packet;
}

export function sshString(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/**
 * Runs ssh2's SFTP class over `input`/`output`. The client sends INIT at once; listen for
 * 'ready'. The end of `input` ends the session ('end'), and closing the session ends `output`.
 */
export function sftpOverStream(input: Readable, output: Writable, options: AdapterOptions = {}): StreamSftp {
  const { SFTP } = ssh2Sftp();
  let versionSent = false;
  let corked = false;
  const carrier = options.carrier;
  const send = (data: Buffer): void => {
    if (carrier && !corked && !carrier.destroyed) {
      corked = true;
      carrier.cork();
      process.nextTick(() => {
        corked = false;
        carrier.uncork();
      });
    }
    // ssh2's server answers INIT with a bare VERSION: swap in one that announces our extensions.
    if (options.server && !versionSent && data.length === 9 && data[4] === SSH_FXP_VERSION) {
      versionSent = true;
      data = versionPacket(options.extensions ?? {});
    }
    if (!output.destroyed && output.writable) output.write(data);
  };
  const close = (): void => {
    if (!output.destroyed) output.end();
  };
  const sftp = new SFTP(fakeClient(send, close, true), channelInfo(), { server: options.server === true, ...(options.debug ? { debug: options.debug } : {}) });
  // A client's READ replies go straight into the caller's buffers (DataReplyRouter), and the
  // chunks they came in are let go of early (Scavenger).
  if (options.server) input.on('data', (chunk: Buffer) => sftp.push(chunk));
  else {
    const router = new DataReplyRouter(sftp);
    const scavenger = new Scavenger();
    input.on('data', (chunk: Buffer) => {
      router.push(chunk);
      scavenger.read(chunk.length);
    });
  }
  input.on('end', () => sftp.push(null));
  input.on('close', () => sftp.push(null));
  input.on('error', () => sftp.push(null));
  output.on('error', () => sftp.push(null));
  // After the caller has attached its 'ready' listener (a stream may answer synchronously).
  process.nextTick(() => sftp._init());
  senders.set(sftp, send);
  return { sftp, sendPacket: send };
}

// A raw SFTP v3 client for tests that attack a server: it sends any packet (every request type
// and extension, with any bytes in it), keeps every reply's bytes for inspection, and parses
// the replies just enough to follow handles and check attributes.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { kmxBin } from '@kmx/core/testing';

export const FXP = {
  INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, LSTAT: 7, FSTAT: 8, SETSTAT: 9, FSETSTAT: 10,
  OPENDIR: 11, READDIR: 12, REMOVE: 13, MKDIR: 14, RMDIR: 15, REALPATH: 16, STAT: 17, RENAME: 18,
  READLINK: 19, SYMLINK: 20, STATUS: 101, HANDLE: 102, DATA: 103, NAME: 104, ATTRS: 105, EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** SSH_FX_OK: the code of a STATUS reply that says the request succeeded. */
export const STATUS_OK = 0;

export interface RawAttrs {
  size?: bigint;
  uid?: number;
  gid?: number;
  mode?: number;
  atime?: number;
  mtime?: number;
  /** Extended pairs (type, data), as sent or received. */
  extended?: Array<[string, Buffer]>;
}

export interface Reply {
  type: number;
  /** The whole packet (length prefix included), as it came. */
  raw: Buffer;
  status?: { code: number; message: string };
  handle?: Buffer;
  data?: Buffer;
  names?: Array<{ filename: string; longname: string; attrs: RawAttrs }>;
  attrs?: RawAttrs;
}

/** Encoders for request bodies (after type and id). */
export const enc = {
  u32(n: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0, 0);
    return b;
  },
  u64(n: bigint): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(n, 0);
    return b;
  },
  str(s: string | Buffer): Buffer {
    const body = typeof s === 'string' ? Buffer.from(s) : s;
    return Buffer.concat([enc.u32(body.length), body]);
  },
  attrs(a: RawAttrs): Buffer {
    let flags = 0;
    const parts: Buffer[] = [];
    if (a.size !== undefined) {
      flags |= 0x1;
      parts.push(enc.u64(a.size));
    }
    if (a.uid !== undefined && a.gid !== undefined) {
      flags |= 0x2;
      parts.push(enc.u32(a.uid), enc.u32(a.gid));
    }
    if (a.mode !== undefined) {
      flags |= 0x4;
      parts.push(enc.u32(a.mode));
    }
    if (a.atime !== undefined && a.mtime !== undefined) {
      flags |= 0x8;
      parts.push(enc.u32(a.atime), enc.u32(a.mtime));
    }
    if (a.extended !== undefined) {
      flags |= 0x80000000;
      parts.push(enc.u32(a.extended.length));
      for (const [type, data] of a.extended) parts.push(enc.str(type), enc.str(data));
    }
    return Buffer.concat([enc.u32(flags), ...parts]);
  },
};

function parseAttrs(b: Buffer, p: number): { attrs: RawAttrs; next: number } {
  const flags = b.readUInt32BE(p);
  p += 4;
  const attrs: RawAttrs = {};
  if (flags & 0x1) {
    attrs.size = b.readBigUInt64BE(p);
    p += 8;
  }
  if (flags & 0x2) {
    attrs.uid = b.readUInt32BE(p);
    attrs.gid = b.readUInt32BE(p + 4);
    p += 8;
  }
  if (flags & 0x4) {
    attrs.mode = b.readUInt32BE(p);
    p += 4;
  }
  if (flags & 0x8) {
    attrs.atime = b.readUInt32BE(p);
    attrs.mtime = b.readUInt32BE(p + 4);
    p += 8;
  }
  if (flags & 0x80000000) {
    const count = b.readUInt32BE(p);
    p += 4;
    attrs.extended = [];
    for (let i = 0; i < count; i++) {
      const type = b.subarray(p + 4, p + 4 + b.readUInt32BE(p));
      p += 4 + type.length;
      const data = b.subarray(p + 4, p + 4 + b.readUInt32BE(p));
      p += 4 + data.length;
      attrs.extended.push([type.toString(), Buffer.from(data)]);
    }
  }
  return { attrs, next: p };
}

function parseReply(raw: Buffer): Reply {
  const type = raw[4]!;
  const reply: Reply = { type, raw };
  let p = 9;
  const str = (): Buffer => {
    const n = raw.readUInt32BE(p);
    const v = raw.subarray(p + 4, p + 4 + n);
    p += 4 + n;
    return v;
  };
  switch (type) {
    case FXP.STATUS: {
      const code = raw.readUInt32BE(p);
      p += 4;
      reply.status = { code, message: p < raw.length ? str().toString() : '' };
      break;
    }
    case FXP.HANDLE:
      reply.handle = Buffer.from(str());
      break;
    case FXP.DATA:
      reply.data = str();
      break;
    case FXP.NAME: {
      const count = raw.readUInt32BE(p);
      p += 4;
      reply.names = [];
      for (let i = 0; i < count; i++) {
        const filename = str().toString();
        const longname = str().toString();
        const { attrs, next } = parseAttrs(raw, p);
        p = next;
        reply.names.push({ filename, longname, attrs });
      }
      break;
    }
    case FXP.ATTRS:
      reply.attrs = parseAttrs(raw, p).attrs;
      break;
    default:
      break;
  }
  return reply;
}

export interface RawServeOptions {
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  args?: string[];
}

/**
 * `kmx sftp serve --root ROOT` on the other end of a pipe, driven packet by packet. Requests
 * go one at a time (the server answers in order anyway); `stop()` ends its input, waits for
 * it to exit and kills it by pid if it does not.
 */
export class RawSftp {
  private buffered: Buffer = Buffer.alloc(0);
  private nextId = 1;
  private waiting = new Map<number, (reply: Reply) => void>();
  private versionWaiter: ((raw: Buffer) => void) | undefined;
  private readonly exited: Promise<number | null>;
  private gone: string | undefined;
  stderr = '';
  /** The extensions the server announced in VERSION. */
  extensions = new Map<string, string>();

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', (err) => {
        this.lost(`the server could not run: ${err.message}`);
        resolve(null);
      });
    });
    child.stdin.on('error', () => undefined);
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    child.once('exit', (code, signal) => this.lost(`the server exited (${code ?? signal})`));
  }

  static async start(root: string, options: RawServeOptions = {}): Promise<RawSftp> {
    const child = spawn(process.execPath, [kmxBin(), 'sftp', 'serve', '--root', root, ...(options.args ?? [])], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
      ...(options.env ? { env: options.env } : {}),
    });
    const client = new RawSftp(child);
    try {
      const version = await new Promise<Buffer>((resolve, reject) => {
        client.versionWaiter = resolve;
        child.once('exit', () => reject(new Error(`serve exited before VERSION: ${client.stderr}`)));
        child.stdin.write(Buffer.concat([enc.u32(5), Buffer.from([FXP.INIT]), enc.u32(3)]));
      });
      let p = 9;
      while (p < version.length) {
        const n = version.readUInt32BE(p);
        const name = version.subarray(p + 4, p + 4 + n).toString();
        p += 4 + n;
        const m = version.readUInt32BE(p);
        client.extensions.set(name, version.subarray(p + 4, p + 4 + m).toString());
        p += 4 + m;
      }
    } catch (err) {
      await client.stop();
      throw err;
    }
    return client;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 4) {
      const length = this.buffered.readUInt32BE(0);
      if (this.buffered.length < 4 + length) break;
      const raw = Buffer.from(this.buffered.subarray(0, 4 + length));
      this.buffered = this.buffered.subarray(4 + length);
      if (raw[4] === FXP.VERSION) {
        this.versionWaiter?.(raw);
        this.versionWaiter = undefined;
        continue;
      }
      const id = raw.readUInt32BE(5);
      const resolve = this.waiting.get(id);
      this.waiting.delete(id);
      resolve?.(parseReply(raw));
    }
  }

  private lost(reason: string): void {
    this.gone ??= reason;
    for (const [id, resolve] of this.waiting) {
      this.waiting.delete(id);
      resolve({ type: -1, raw: Buffer.alloc(0), status: { code: -1, message: reason } });
    }
  }

  /** Sends one request (type, then the body after the id) and waits for its reply. */
  request(type: number, ...body: Buffer[]): Promise<Reply> {
    if (this.gone) return Promise.reject(new Error(`${this.gone}; stderr: ${this.stderr}`));
    const id = this.nextId++;
    const payload = Buffer.concat([Buffer.from([type]), enc.u32(id), ...body]);
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(Buffer.concat([enc.u32(payload.length), payload]));
    });
  }

  extended(name: string, ...body: Buffer[]): Promise<Reply> {
    return this.request(FXP.EXTENDED, enc.str(name), ...body);
  }

  /** Ends the server's input; waits up to `timeoutMs` for it to exit, then SIGKILLs it by pid. */
  async stop(timeoutMs = 5_000): Promise<number | null> {
    this.child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      if (this.child.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, 'SIGKILL');
      await this.exited;
      throw new Error(`serve (pid ${this.child.pid}) did not end within ${timeoutMs} ms of its input closing`);
    }
    return result;
  }
}

import { KmxError } from '@kmx/core';
import type { Mounted } from './connection.js';
import { NfsContext, type NfsConnectOptions } from './driver.js';
import { ConnectionLost } from './failures.js';
import { nameMaxV3 } from './raw.js';

// One connection: a libnfs context with the export mounted, and what one call may carry on it.
// Within libnfs 4.0's limits: NFSv4 means 4.0, its writes are capped at 2 KiB per call and its
// reads at 1 MiB (larger ones kill the context).

export type NfsProtocol = 3 | 4;

export interface ExportOptions extends NfsConnectOptions {
  protocol: NfsProtocol;
}

/**
 * libnfs 4.0 encodes an NFSv4 WRITE into its 4 KiB request buffer with everything else, the
 * credential included (measured with 16 supplementary groups: 3900 bytes of data fit, 4000 not).
 */
const V4_WRITE_MAX = 2048;
/** Linux's NAME_MAX: a longer name cannot be listed (struct dirent), whatever a server says (the kernel's client caps it too). */
export const NAME_MAX = 255;
const V4_READ_MAX = 1024 * 1024;
const V3_MAX = 1024 * 1024;

/** Connects and mounts the export named by `url` (nfs://host/export?version=…&nfsport=…); `signal` stops the attempt. */
export async function mountExport(options: ExportOptions, signal?: AbortSignal): Promise<Mounted> {
  const ctx = new NfsContext(options);
  signal?.addEventListener('abort', () => ctx.close(), { once: true });
  try {
    const lib = ctx.library;
    const url = lib.parse_url_dir(ctx.raw, options.url);
    if (!url) throw new KmxError(`bad NFS URL ${options.url}: ${ctx.error()}`, { exitCode: 2 });
    const parsed = lib.koffi.decode(url, lib.urlType) as { server: string; path: string };
    const server = String(parsed.server);
    const path = String(parsed.path);
    lib.destroy_url(url);
    await ctx.call('mount', (cb, id) => lib.mount_async(ctx.raw, server, path, cb, id), () => undefined);
    lib.umask(ctx.raw, 0); // the kernel already applied the caller's umask to FUSE modes
    const readmax = Number(lib.get_readmax(ctx.raw));
    const writemax = Number(lib.get_writemax(ctx.raw));
    // NFSv3: libnfs says 256 whatever the server takes; ask the server (NFSv4's statvfs asks it itself).
    const nameMax = options.protocol === 3 ? await nameMaxV3(ctx).catch((err: unknown) => {
      if (err instanceof ConnectionLost) throw err;
      return NAME_MAX;
    }) : NAME_MAX;
    return {
      ctx,
      readMax: options.protocol === 4 ? V4_READ_MAX : Math.min(readmax || V3_MAX, V3_MAX),
      writeMax: options.protocol === 4 ? V4_WRITE_MAX : Math.min(writemax || V3_MAX, V3_MAX),
      nameMax: Math.min(nameMax || NAME_MAX, NAME_MAX),
    };
  } catch (err) {
    ctx.close();
    throw err;
  }
}

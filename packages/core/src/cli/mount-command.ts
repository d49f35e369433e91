import { setFlagsFromString } from 'node:v8';
import { Flags } from '@oclif/core';
import { ENGINE_NAMES } from '../fuse/engine.js';
import type { MountRequest } from '../fuse/mount.js';
import { parseFuseOptions, type FuseOptions } from '../fuse/options.js';
import type { FileSystem } from '../fuse/types.js';
import { KmxCommand } from './base-command.js';
import { daemonLogFile, isDaemonChild, receivePrepared, reportFailure, reportReady, runDetached } from './daemon.js';
import { reportError } from './report.js';
import { serveMount } from './serve.js';

export interface ServeOptions<P> {
  plugin: string;
  source: string;
  mountpoint: string;
  /** Mount options: the plugin's defaults, then the user's -o on top. */
  fuseOptions: FuseOptions;
  /** Where the terminal is (the parent, with --daemon): ask for passwords and the like. */
  prepare?: () => Promise<P>;
  /** In the foreground (not with --daemon), once the mount answers: say so, as a peer tool would. */
  onReady?: (mountpoint: string) => void;
  /** In the serving process: build the filesystem. */
  filesystem: (prepared: P) => FileSystem | Promise<FileSystem>;
  /** A detached server whose throughput matters more than its pauses (see serverFlags). */
  singleThreadedGc?: boolean;
  /** A detached server that churns large data buffers (see serverEnvironment). */
  hugePageMalloc?: boolean;
  /** A server whose first requests matter, compiled ahead of use (see compileEagerly). */
  eagerCompilation?: boolean;
}

/**
 * Has V8 compile every function to baseline code (Sparkplug) when it is first compiled, rather
 * than interpret it until it has run often: a fresh server otherwise answers its first few
 * thousand requests in the interpreter. kmx passthrough's first find+stat of 2,000 files on a
 * new mount (1 s timeouts) took 95–118 ms without and 70–95 ms with; warm walks, untar and
 * 256 MiB transfers did not get slower. kmx sftp's first transfer got slower in an earlier
 * measurement and was mixed in a later one, and kmx enc's walk and untar did not change clearly,
 * so it is a plugin's choice. Set before the filesystem's code first runs: functions already
 * compiled keep their code.
 */
function compileEagerly(): void {
  setFlagsFromString('--always-sparkplug');
}

/** The base flags of a mount command, as parsed. */
export interface MountFlags {
  daemon: boolean;
  'fuse-engine'?: string | undefined;
}

/**
 * The base of every command that mounts: foreground by default, unmounting on SIGINT/SIGTERM;
 * `--daemon` to detach once the mount answers; `--fuse-engine`; sshfs-style `-o` options.
 */
export abstract class MountCommand extends KmxCommand {
  static override baseFlags = {
    ...KmxCommand.baseFlags,
    daemon: Flags.boolean({ description: 'Detach once the mount answers (default: stay in the foreground until unmounted or interrupted).' }),
    'fuse-engine': Flags.string({ description: 'FUSE engine to serve the mount with (default: $KMX_FUSE_ENGINE, else the fastest available).', options: [...ENGINE_NAMES] }),
    option: Flags.string({ char: 'o', multiple: true, multipleNonGreedy: true, description: 'Mount options, comma-separated: allow_other, default_permissions, ro, attr_timeout=S, entry_timeout=S, direct_io, kernel_cache, max_read=N, max_background=N, auto_unmount, debug.' }),
  };

  /** The user's -o options over the plugin's defaults; `extra` takes plugin-specific names. */
  protected fuseOptions(defaults: FuseOptions, specs: readonly string[] | undefined, extra?: (name: string, value: string | undefined) => boolean): FuseOptions {
    return { ...defaults, ...parseFuseOptions(specs ?? [], extra) };
  }

  /** Mounts and serves; pass the command's parsed flags (they include the base flags). */
  protected async serve<P = undefined>(options: ServeOptions<P>, flags: MountFlags): Promise<void> {
    if (flags.daemon && !isDaemonChild()) {
      const prepared = options.prepare ? await options.prepare() : undefined;
      const ready = await runDetached(options.plugin, prepared, { singleThreadedGc: options.singleThreadedGc, hugePageMalloc: options.hugePageMalloc });
      this.log(`kmx ${options.plugin}: ${options.source} mounted on ${ready.mountpoint} (pid ${ready.pid})`);
      return;
    }
    const child = isDaemonChild();
    if (options.eagerCompilation) compileEagerly();
    try {
      const prepared = child ? await receivePrepared<P>() : options.prepare ? await options.prepare() : (undefined as P);
      const request: MountRequest = {
        filesystem: await options.filesystem(prepared),
        mountpoint: options.mountpoint,
        plugin: options.plugin,
        source: options.source,
        options: options.fuseOptions,
        ...(flags['fuse-engine'] ? { engine: flags['fuse-engine'] } : {}),
        ...(daemonLogFile() ? { logFile: daemonLogFile() } : {}),
      };
      await serveMount(request, (mount) => {
        if (child) reportReady(mount.mountpoint);
        else options.onReady?.(mount.mountpoint);
      });
    } catch (err) {
      if (child) {
        const report = reportError(err, this.id);
        await reportFailure(report.json.error.message, report.json.error.hint, report.exitCode);
      }
      throw err;
    }
  }
}

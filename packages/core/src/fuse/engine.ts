import { errnoOf } from '../errors/index.js';
import type { FuseOptions } from './options.js';
import type { FileSystem, MaybePromise } from './types.js';

/** In order of preference: the first available serves a mount unless one is asked for. */
export const ENGINE_NAMES = ['libfuse3', 'fuse-native'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export interface EngineMountRequest {
  filesystem: FileSystem;
  /** Absolute path of an existing, empty-or-not directory that is not already a mount. */
  mountpoint: string;
  /** Shown as the mount's source in mountinfo; already free of ',' '\' and control characters. */
  fsname: string;
  /** fstype becomes `fuse.<subtype>`. */
  subtype: string;
  options: FuseOptions;
  log: (line: string) => void;
}

export interface EngineSession {
  /** Resolves once the kernel session has ended, whoever unmounted it; never rejects. */
  readonly ended: Promise<void>;
  /**
   * Ends the session from this side, without waiting for the kernel or for operations still
   * running: the kernel then fails whatever still reaches the mount (copies of it in other
   * mount namespaces, files kept open after a lazy unmount) with ENOTCONN.
   */
  abort(): void;
}

/** A way of serving a FileSystem to the kernel. Both engines answer the same interface. */
export interface FuseEngine {
  readonly name: EngineName;
  /** Why this engine cannot run here (a missing library), or undefined when it can. */
  unavailableReason(): string | undefined;
  /** Mounts and resolves once the kernel's INIT has been answered (the mount is live). */
  mount(request: EngineMountRequest): Promise<EngineSession>;
}

const EIO = 5;

/**
 * Runs one filesystem operation and reports its outcome as (errno, value), errno 0 on
 * success. Synchronous results are delivered synchronously: replying inside the engine's
 * callback is the fast path. Errors without an errno become EIO plus one log line.
 */
export function runOperation<T>(
  name: string,
  path: string,
  log: (line: string) => void,
  operation: () => MaybePromise<T>,
  done: (errno: number, value?: T) => void,
): void {
  const fail = (err: unknown): void => {
    const errno = errnoOf(err);
    if (errno === undefined) log(`${name} ${path}: ${err instanceof Error ? err.message : String(err)} (answered EIO; this is a bug in kmx)`);
    done(errno ?? EIO);
  };
  let result: MaybePromise<T>;
  try {
    result = operation();
  } catch (err) {
    fail(err);
    return;
  }
  // A reply that cannot be encoded (a malformed Attr, say) is answered EIO, not left hanging.
  const succeed = (value: T): void => {
    try {
      done(0, value);
    } catch (err) {
      fail(err);
    }
  };
  if (result instanceof Promise) result.then(succeed, fail);
  else succeed(result);
}

import type { EngineMountRequest, EngineSession, FuseEngine } from '../../engine.js';
import { libfuse3 } from './bindings.js';
import { Libfuse3Session } from './session.js';

/**
 * libfuse3's low-level (inode) API, called through koffi from the Node event loop: no
 * threads, replies sent as soon as an operation settles, READDIRPLUS, 1 MiB writes, and the
 * writeback cache on request. Paths are kept in a node table (nodes.ts) so that filesystems
 * stay path-based.
 */
export class Libfuse3Engine implements FuseEngine {
  readonly name = 'libfuse3' as const;

  unavailableReason(): string | undefined {
    try {
      libfuse3();
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  mount(request: EngineMountRequest): Promise<EngineSession> {
    return new Libfuse3Session(request).start();
  }
}

import * as grpc from '@grpc/grpc-js';
import { SysError } from '@kmx/core';

/**
 * gRPC codes that mean "the host did not answer" (or refuses this node: its certificate was
 * revoked there), not "the file is missing".
 */
export const TRANSPORT_CODES = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED, grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.RESOURCE_EXHAUSTED, grpc.status.UNIMPLEMENTED, grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED]);

/** Linux's EHOSTDOWN: Node's errno table has no name for it. */
export const EHOSTDOWN = 112;
export const ETIMEDOUT = 110;

/** A read that failed because the host did not answer (as opposed to a missing file). */
export function hostUnreachable(err: unknown): boolean {
  return err instanceof SysError && (err.errno === EHOSTDOWN || err.errno === ETIMEDOUT);
}

export const isServiceError = (err: unknown): err is grpc.ServiceError => typeof (err as { code?: unknown })?.code === 'number' && 'metadata' in (err as object);

/** The first line of a gRPC error, without the library's prefixes. */
export function describeRpcError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^\d+ [A-Z_]+: /, '').replace(/^No connection established\. Last error: (Error: )?/, '').replace(/\.? ?Resolution note:.*$/s, '').split('\n')[0]!.trim();
}

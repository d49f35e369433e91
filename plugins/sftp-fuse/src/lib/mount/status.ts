import type { ConnectionState } from '../connection/connection.js';

/** The words `kmx mounts` shows for a connection state. */
export function statusText(state: ConnectionState): string {
  return state.status === 'connected' ? state.detail : `${state.status}: ${state.detail}`;
}

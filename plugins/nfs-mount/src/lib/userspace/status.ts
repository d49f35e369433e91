import type { ConnectionState } from '@kmx/core';
import { clockTime } from './connection.js';

/** The words `kmx mounts` and `kmx nfs list` show for a connection state. */
export function statusText(state: ConnectionState): string {
  return state.status === 'connected' ? state.detail : `reconnecting: down since ${clockTime(state.since)}: ${state.detail}`;
}

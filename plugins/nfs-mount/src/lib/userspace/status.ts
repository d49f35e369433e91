import { setMountStatus } from '@kmx/core';
import { clockTime, type ConnectionState } from './connection.js';

/** The words `kmx mounts` and `kmx nfs list` show for a connection state. */
export function statusText(state: ConnectionState): string {
  return state.status === 'connected' ? state.detail : `reconnecting: down since ${clockTime(state.since)}: ${state.detail}`;
}

/**
 * Keeps the mount's record (shown by `kmx mounts`) in step with the connection state. The
 * record appears only once the mount answers, so a state not yet written is retried every 250 ms.
 */
export class StatusReporter {
  private wanted: string | undefined;
  private written: string | undefined;
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(private readonly mountpoint: string) {
    this.timer = setInterval(() => void this.flush(), 250);
    this.timer.unref();
  }

  update(state: ConnectionState): void {
    this.wanted = statusText(state);
    void this.flush();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async flush(): Promise<void> {
    if (this.busy || this.wanted === undefined || this.wanted === this.written) return;
    this.busy = true;
    const status = this.wanted;
    try {
      if (await setMountStatus(this.mountpoint, status)) this.written = status;
    } catch {
      // the record directory may be gone at shutdown
    } finally {
      this.busy = false;
    }
    if (this.wanted !== status) void this.flush(); // changed while this one was written
  }
}

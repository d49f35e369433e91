import { setMountStatus } from './registry.js';

/**
 * Keeps a mount's record (what `kmx mounts` shows as its status) in step with what its plugin
 * says, a connection's state say. The record appears only once the mount answers, so a status
 * not yet written is tried again every 250 ms; a newer one replaces one not yet written.
 */
export class MountStatusReporter {
  private wanted: string | undefined;
  private written: string | undefined;
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(private readonly mountpoint: string) {
    this.timer = setInterval(() => void this.flush(), 250);
    this.timer.unref();
  }

  update(status: string): void {
    this.wanted = status;
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

/**
 * How much written data a mount lets travel to the server at once: writes queue here, in
 * order, until what was sent before them is answered. Write-behind lets the writer run up to
 * `write_behind` ahead; this keeps sshd's share of that within the window it offers (OpenSSH:
 * 2 MiB per channel). Data beyond that waits in sshd, which grows its buffer by copying it
 * 32 KiB at a time: 8 MiB of write-behind without this gate wrote a fresh mount's first
 * 256 MiB at 0.76× sshfs's speed, with it at 1.08–1.13×; a 3 MiB gate was slow again.
 */
const SEND_WINDOW_BYTES = 2 * 1024 * 1024;

interface QueuedSend {
  length: number;
  start: () => Promise<void>;
}

export class SendGate {
  private readonly queue: QueuedSend[] = [];
  private inFlight = 0;

  constructor(private readonly limit = SEND_WINDOW_BYTES) {}

  /**
   * Runs `send` (which carries `length` bytes) once it fits, and never before the current
   * microtask ends, so that a write's FUSE answer leaves first. A single send larger than the
   * window goes alone.
   */
  send(length: number, send: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ length, start: () => Promise.resolve().then(send).then(resolve, reject) });
      queueMicrotask(() => this.pump());
    });
  }

  private pump(): void {
    for (let next = this.queue[0]; next && (this.inFlight === 0 || this.inFlight + next.length <= this.limit); next = this.queue[0]) {
      this.queue.shift();
      const { length } = next;
      this.inFlight += length;
      void next.start().finally(() => {
        this.inFlight -= length;
        this.pump();
      });
    }
  }
}

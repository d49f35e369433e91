import type { Attr, DirEntry } from '@kmx/core';
import { bootTime } from '../rpc/agent.js';
import { LocalProc } from '../proc/local-proc.js';
import type { Host, HostStatus } from './host.js';

/** This host, read in place. */
export class LocalHost implements Host {
  readonly local = true;
  readonly state = 'local' as const;
  readonly bootTime: number;
  private readonly started = new Date();

  constructor(readonly name: string, readonly slot: number, readonly proc: LocalProc = new LocalProc()) {
    this.bootTime = bootTime(proc);
  }

  stat(path: string, follow = false): Attr {
    return follow ? this.proc.stat(path) : this.proc.lstat(path);
  }

  list(path: string): DirEntry[] {
    return this.proc.list(path);
  }

  readlink(path: string): string {
    return this.proc.readlink(path);
  }

  readFile(path: string): Buffer {
    return this.proc.readFile(path);
  }

  status(): HostStatus {
    return { name: this.name, slot: this.slot, state: 'local', address: '-', since: this.started };
  }
}

import type { Attr, DirEntry, MaybePromise } from '@kmx/core';

export type HostState = 'local' | 'connecting' | 'up' | 'down';

/** One host of a view: this one (answers in place) or a remote agent. Paths are view paths ('/1/stat'). */
export interface Host {
  readonly name: string;
  /** Its place in the host list: it owns merged pids slot·2^22 + pid. */
  readonly slot: number;
  readonly local: boolean;
  /** btime, seconds since the epoch (0 until known). */
  readonly bootTime: number;
  readonly state: HostState;
  stat(path: string, follow?: boolean): MaybePromise<Attr>;
  list(path: string): MaybePromise<DirEntry[]>;
  readlink(path: string): MaybePromise<string>;
  /** A whole file, read at once (a snapshot). */
  readFile(path: string): MaybePromise<Buffer>;
}

/** What `status` shows of a host. */
export interface HostStatus {
  name: string;
  slot: number;
  state: HostState;
  address: string;
  /** Round trip of the last successful probe, ms. */
  rttMs?: number;
  /** When it entered its state. */
  since: Date;
  lastError?: string;
}

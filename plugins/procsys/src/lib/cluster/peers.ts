import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { KmxError, UsageError } from '@kmx/core';
import { MAX_HOSTS } from '../merge/pid-space.js';

/** A host of the cluster as configured: its name (the one its certificate names) and address. */
export interface PeerSpec {
  name: string;
  /** host:port; absent for this host when it only mounts. */
  address?: string;
}

export interface ClusterFile {
  hosts: PeerSpec[];
  /** Directory of `kmx procsys certs` output, relative to the file. */
  certs?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * This machine's name when none is given: the kernel's host name (`short`: its first label); or
 * "localhost", as systemd falls back, where it was never set ("(none)") or is no usable name.
 */
export function defaultHostName(options: { short?: boolean; kernelName?: string } = {}): string {
  const kernelName = options.kernelName ?? hostname();
  const name = options.short ? kernelName.split('.')[0] ?? '' : kernelName;
  return NAME.test(name) ? name : 'localhost';
}

export function checkName(name: string, what = 'host name'): string {
  if (!NAME.test(name)) throw new UsageError(`invalid ${what} "${name}"`, 'use letters, digits, ".", "_" and "-" (at most 63), starting with a letter or digit');
  return name;
}

/** HOST:PORT or [IPV6]:PORT, checked. */
export function checkAddress(address: string, what: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
  const port = Number(match?.[2]);
  if (!match || port < 0 || port > 65535) throw new UsageError(`invalid address "${address}" for ${what}`, 'write HOST:PORT, as in 10.0.0.2:7447');
  return address;
}

/** `--peer NAME=HOST:PORT`. */
export function parsePeer(spec: string): PeerSpec {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new UsageError(`invalid --peer "${spec}"`, 'write --peer NAME=HOST:PORT');
  const name = checkName(spec.slice(0, eq), 'peer name');
  return { name, address: checkAddress(spec.slice(eq + 1), `peer ${name}`) };
}

/**
 * A cluster file: JSON, `{"hosts": [{"name": "a", "address": "10.0.0.1:7447"}, …], "certs": "DIR"}`.
 * Every node can use the same file: the one named by --name is this host.
 */
export function readClusterFile(path: string): ClusterFile {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new KmxError(code ? `cannot read the cluster file ${path}: ${code}` : `the cluster file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  const hosts = (data as { hosts?: unknown })?.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0) throw new KmxError(`the cluster file ${path} has no "hosts" list`, { hint: 'write {"hosts": [{"name": "a", "address": "HOST:PORT"}, …]}' });
  const specs = hosts.map((h: unknown, i) => {
    const { name, address } = (h ?? {}) as { name?: unknown; address?: unknown };
    if (typeof name !== 'string') throw new KmxError(`host ${i + 1} of ${path} has no "name"`);
    if (address !== undefined && typeof address !== 'string') throw new KmxError(`host ${name} of ${path}: "address" must be a string`);
    return { name: checkName(name), ...(address ? { address: checkAddress(address, `host ${name}`) } : {}) };
  });
  const certs = (data as { certs?: unknown }).certs;
  if (certs !== undefined && typeof certs !== 'string') throw new KmxError(`the cluster file ${path}: "certs" must be a directory path`);
  return { hosts: specs, ...(certs ? { certs: resolve(dirname(path), certs) } : {}) };
}

/**
 * The host list of a view: the configured hosts in their order, with this host (by name)
 * in its place, or first when the list leaves it out. That order gives the pid slots, so
 * nodes sharing one cluster file see the same pids.
 */
export function hostList(localName: string, peers: readonly PeerSpec[]): PeerSpec[] {
  const seen = new Set<string>();
  for (const peer of peers) {
    if (seen.has(peer.name)) throw new UsageError(`host "${peer.name}" is listed twice`);
    seen.add(peer.name);
  }
  const list = seen.has(localName) ? [...peers] : [{ name: localName }, ...peers];
  for (const peer of list) {
    if (peer.name !== localName && !peer.address) throw new UsageError(`host "${peer.name}" has no address`);
  }
  if (list.length > MAX_HOSTS) throw new UsageError(`at most ${MAX_HOSTS} hosts fit in one view (pids are split between them)`);
  return list;
}

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { listKmxMounts } from '@kmx/core';

// The procsys view: every merged procsys mount kmx's registry knows (source "proc (merged)"),
// with its /status (one row per host) and the merged figures at its root. Files are read by a
// child with a time limit, as `kmx mounts` probes: a mount that hangs never hangs the server.

const READ_TIMEOUT_MS = 3000;

function readThroughChild(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('cat', ['--', path], { timeout: READ_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

export interface ProcsysHost {
  name: string;
  state: string;
  address: string;
  rttMs: string;
  since: string;
  lastError: string;
  loadavg?: string;
}

export interface ProcsysCluster {
  mountpoint: string;
  state: string;
  pid: number | null;
  hosts: ProcsysHost[];
  merged: { loadavg?: string; uptimeSeconds?: number; memTotalKiB?: number; memAvailableKiB?: number; processes?: number };
}

/**
 * Parses /status: a table (NAME STATE ADDRESS SLOT PID_BASE RTT_MS SINCE LAST_ERROR) whose
 * last column may hold spaces.
 */
export function parseStatus(text: string): ProcsysHost[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(1).map((line) => {
    const fields = line.trim().split(/\s+/);
    return {
      name: fields[0] ?? '', state: fields[1] ?? '', address: fields[2] ?? '', rttMs: fields[5] ?? '-', since: fields[6] ?? '', lastError: fields.slice(7).join(' '),
    };
  });
}

function meminfoField(text: string | undefined, name: string): number | undefined {
  const match = text === undefined ? null : new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

async function cluster(mountpoint: string, state: string, pid: number | null): Promise<ProcsysCluster> {
  const [status, loadavg, uptime, meminfo] = await Promise.all(['status', 'loadavg', 'uptime', 'meminfo'].map((f) => readThroughChild(join(mountpoint, f))));
  const hosts = status === undefined ? [] : parseStatus(status);
  await Promise.all(hosts.map(async (h) => {
    if (h.state === 'down') return;
    const line = await readThroughChild(join(mountpoint, 'hosts', h.name, 'loadavg'));
    if (line !== undefined) h.loadavg = line.trim();
  }));
  const running = /\s\d+\/(\d+)\s/.exec(loadavg ?? '');
  const merged: ProcsysCluster['merged'] = {};
  if (loadavg !== undefined) merged.loadavg = loadavg.trim();
  if (uptime !== undefined && Number.isFinite(Number(uptime.split(' ')[0]))) merged.uptimeSeconds = Number(uptime.split(' ')[0]);
  const total = meminfoField(meminfo, 'MemTotal');
  const available = meminfoField(meminfo, 'MemAvailable');
  if (total !== undefined) merged.memTotalKiB = total;
  if (available !== undefined) merged.memAvailableKiB = available;
  if (running) merged.processes = Number(running[1]);
  return { mountpoint, state, pid, hosts, merged };
}

/** Every merged procsys mount and its cluster; single-host mounts are listed under Mounts only. */
export async function procsysClusters(): Promise<{ clusters: ProcsysCluster[] }> {
  const mounts = (await listKmxMounts()).filter((m) => m.plugin === 'procsys' && m.source.includes('merged'));
  const clusters = await Promise.all(mounts.map((m) => (m.state === 'ok' ? cluster(m.mountpoint, m.state, m.pid) : Promise.resolve({ mountpoint: m.mountpoint, state: m.state, pid: m.pid, hosts: [], merged: {} }))));
  return { clusters };
}

import { describeFailure, getJson } from '../api.js';
import { append, clear, el, table } from '../dom.js';
import type { ViewHandle } from '../shell.js';

interface Host { name: string; state: string; address: string; rttMs: string; since: string; lastError: string; loadavg?: string }
interface Cluster {
  mountpoint: string;
  state: string;
  pid: number | null;
  hosts: Host[];
  merged: { loadavg?: string; uptimeSeconds?: number; memTotalKiB?: number; memAvailableKiB?: number; processes?: number };
}

const gib = (kib: number | undefined): string => (kib === undefined ? '-' : `${(kib / 1048576).toFixed(1)} GiB`);

export function procsysView(root: HTMLElement): ViewHandle {
  const body = el('section', { id: 'procsys' }, el('p', {}, 'loading…'));
  append(root, el('h2', {}, 'procsys clusters'), body);
  let alive = true;
  const refresh = async (): Promise<void> => {
    try {
      const { clusters } = await getJson<{ clusters: Cluster[] }>('/api/procsys');
      if (!alive) return;
      clear(body);
      if (clusters.length === 0) append(body, el('p', { class: 'empty' }, 'No merged procsys mount is running (kmx procsys mount --peer … or --cluster …).'));
      for (const c of clusters) {
        const m = c.merged;
        append(body, el('h3', {}, `${c.mountpoint} (${c.state}, pid ${c.pid ?? '-'})`),
          el('p', { class: 'figures' }, `load ${m.loadavg ?? '-'} · memory ${gib(m.memAvailableKiB)} free of ${gib(m.memTotalKiB)} · ${m.processes ?? '-'} processes · up ${m.uptimeSeconds === undefined ? '-' : `${Math.round(m.uptimeSeconds / 3600)} h`}`),
          table(['Host', 'State', 'Address', 'RTT ms', 'Since', 'Load', 'Last error'], c.hosts.map((h) => [h.name, el('span', { class: `state state-${h.state}` }, h.state), h.address, h.rttMs, h.since, h.loadavg ?? '-', h.lastError || '-']), { className: 'hosts' }));
      }
    } catch (err) {
      clear(body);
      append(body, el('p', { class: 'error' }, describeFailure(err)));
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 5000);
  return { destroy: () => { alive = false; clearInterval(timer); } };
}

import { describeFailure, getJson, postJson } from '../api.js';
import { append, clear, el, table } from '../dom.js';
import { notify, type ViewHandle } from '../shell.js';

interface Job { id: number; source: string; target: string; watch: boolean; state: string; startedAt: string; progress: string | null; lines: string[] }

export function backupsView(root: HTMLElement): ViewHandle {
  const jobs = el('section', { id: 'backup-jobs' });
  const note = el('p', { class: 'muted' });
  const form = el('form', { id: 'backup-form' },
    el('div', { class: 'field' }, el('label', { for: 'b-source' }, 'Source directory'), el('input', { id: 'b-source', name: 'source', required: true })),
    el('div', { class: 'field' }, el('label', { for: 'b-target' }, 'Target directory (an NFS mount, say)'), el('input', { id: 'b-target', name: 'target', required: true })),
    el('div', { class: 'field check' }, el('label', { for: 'b-watch' }, 'Keep watching'), el('input', { id: 'b-watch', name: 'watch', type: 'checkbox' })),
    el('div', { class: 'field check' }, el('label', { for: 'b-delete' }, 'Delete what is gone from the source'), el('input', { id: 'b-delete', name: 'delete', type: 'checkbox' })),
    el('button', { type: 'submit' }, 'Start backup'));
  append(root, el('h2', {}, 'Backups (kmx nfs backup)'), jobs, note, el('h3', {}, 'New backup'), form);
  let alive = true;
  const refresh = async (): Promise<void> => {
    try {
      const list = await getJson<{ jobs: Job[]; note: string }>('/api/backups');
      if (!alive) return;
      note.textContent = list.note;
      clear(jobs);
      append(jobs, table(['#', 'Source', 'Target', 'State', 'Progress', 'Last line', ''], list.jobs.map((j) => {
        const stop = el('button', { type: 'button', disabled: j.state !== 'running' }, 'Stop');
        stop.addEventListener('click', () => void postJson(`/api/backups/${j.id}/stop`, {}).then(refresh, (err: unknown) => notify(describeFailure(err), true)));
        return [String(j.id), j.source, j.target, `${j.state}${j.watch ? ' (watching)' : ''}`, j.progress ?? '-', j.lines[j.lines.length - 1] ?? '-', stop];
      }), { empty: 'No backup started from this page.' }));
    } catch (err) {
      notify(describeFailure(err), true);
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = (name: string): string => (form.elements.namedItem(name) as HTMLInputElement).value;
    const checked = (name: string): boolean => (form.elements.namedItem(name) as HTMLInputElement).checked;
    postJson<Job>('/api/backups', { source: value('source'), target: value('target'), watch: checked('watch'), delete: checked('delete') })
      .then((j) => notify(`backup ${j.id} started`), (err: unknown) => notify(describeFailure(err), true))
      .finally(() => void refresh());
  });
  void refresh();
  const timer = setInterval(() => void refresh(), 2000);
  return { destroy: () => { alive = false; clearInterval(timer); } };
}

import { describeFailure, getJson, postJson, type Session } from '../api.js';
import { append, clear, el, table } from '../dom.js';
import { notify, type ViewHandle } from '../shell.js';

interface KmxMount {
  mountpoint: string;
  source: string;
  plugin: string;
  pid: number | null;
  engine: string | null;
  state: string;
  status: string | null;
}

interface NfsRow {
  name: string;
  source: string;
  mountpoint: string;
  mode: string;
  detail: string;
  link: string;
}

interface Field {
  name: string;
  label: string;
  kind?: 'text' | 'password' | 'checkbox' | 'select';
  required?: boolean;
  options?: string[];
  placeholder?: string;
}

/** The form of each plugin's mount: the server turns the fields into `kmx <plugin> mount` flags. */
const FORMS: Record<string, { title: string; fields: Field[] }> = {
  passthrough: { title: 'Passthrough (mirror a directory)', fields: [
    { name: 'source', label: 'Directory to mirror', required: true, placeholder: '/home/you/src' },
    { name: 'mountpoint', label: 'Mountpoint', required: true, placeholder: '/tmp/view' },
    { name: 'readOnly', label: 'Read-only', kind: 'checkbox' },
  ] },
  sftp: { title: 'SFTP', fields: [
    { name: 'remote', label: 'Remote ([user@]host[:port]:[path])', required: true, placeholder: 'alice@files:/srv' },
    { name: 'mountpoint', label: 'Mountpoint', required: true },
    { name: 'identity', label: 'Key file (-i)' },
    { name: 'port', label: 'SSH port' },
    { name: 'password', label: 'Password (if no key is accepted)', kind: 'password' },
    { name: 'acceptNewHostKey', label: 'Record the host key of a new host', kind: 'checkbox' },
    { name: 'readOnly', label: 'Read-only', kind: 'checkbox' },
  ] },
  enc: { title: 'Encrypted view (kmx enc)', fields: [
    { name: 'dir', label: 'CIPHERDIR (plain directory with reverse)', required: true },
    { name: 'mountpoint', label: 'Mountpoint', required: true },
    { name: 'password', label: 'Password', kind: 'password', required: true },
    { name: 'reverse', label: 'Reverse (encrypted view of a plain directory)', kind: 'checkbox' },
    { name: 'readOnly', label: 'Read-only', kind: 'checkbox' },
  ] },
  nfs: { title: 'NFS', fields: [
    { name: 'mode', label: 'Mount', kind: 'select', options: ['kernel', 'userspace'] },
    { name: 'source', label: 'server:/export', required: true },
    { name: 'name', label: 'Name (default: the export\'s last component)' },
    { name: 'vers', label: 'NFS version', kind: 'select', options: ['', '3', '4', '4.0', '4.1', '4.2'] },
    { name: 'port', label: 'NFS port' },
    { name: 'mountPort', label: 'mountd port (NFSv3)' },
    { name: 'mountpoint', label: 'Mountpoint (user space only)' },
    { name: 'link', label: 'Link in your home' },
    { name: 'readOnly', label: 'Read-only', kind: 'checkbox' },
  ] },
  procsys: { title: 'procsys (/proc mirror, merged with peers)', fields: [
    { name: 'mountpoint', label: 'Mountpoint', required: true },
    { name: 'peers', label: 'Peers (NAME=HOST:PORT, comma-separated)' },
    { name: 'certs', label: 'Certificates directory' },
    { name: 'cluster', label: 'Cluster file' },
    { name: 'name', label: 'This host\'s name' },
    { name: 'allowDown', label: 'Start even if peers are down', kind: 'checkbox' },
  ] },
};

function input(kind: string, field: Field): HTMLElement {
  const id = `f-${kind}-${field.name}`;
  const common = { id, name: field.name };
  let control: HTMLElement;
  if (field.kind === 'checkbox') control = el('input', { ...common, type: 'checkbox' });
  else if (field.kind === 'select') control = el('select', common, ...(field.options ?? []).map((o) => el('option', { value: o }, o === '' ? '(default)' : o)));
  else control = el('input', { ...common, type: field.kind === 'password' ? 'password' : 'text', autocomplete: field.kind === 'password' ? 'new-password' : 'off', spellcheck: 'false', required: field.required === true, placeholder: field.placeholder ?? '' });
  return el('div', { class: field.kind === 'checkbox' ? 'field check' : 'field' }, el('label', { for: id }, field.label), control);
}

function mountForm(kind: string, onDone: () => void): HTMLElement {
  const spec = FORMS[kind]!;
  const form = el('form', { class: 'mount-form', 'data-kind': kind }, ...spec.fields.map((f) => input(kind, f)), el('button', { type: 'submit' }, 'Mount'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body: Record<string, string | boolean> = {};
    for (const field of spec.fields) {
      const control = form.elements.namedItem(field.name) as HTMLInputElement | HTMLSelectElement | null;
      if (!control) continue;
      body[field.name] = control instanceof HTMLInputElement && control.type === 'checkbox' ? control.checked : control.value;
    }
    const button = form.querySelector('button')!;
    button.disabled = true;
    notify(`mounting (${kind})…`);
    postJson<{ output: string }>(`/api/mounts/${kind}`, body)
      .then((r) => notify(r.output || `${kind}: mounted`))
      .catch((err: unknown) => notify(describeFailure(err), true))
      .finally(() => {
        // The password is not kept in the page once it was used.
        for (const f of spec.fields) if (f.kind === 'password') (form.elements.namedItem(f.name) as HTMLInputElement).value = '';
        button.disabled = false;
        onDone();
      });
  });
  return form;
}

function unmountButton(label: string, body: Record<string, string>, onDone: () => void): HTMLElement {
  const button = el('button', { type: 'button', class: 'unmount', 'data-mountpoint': body.mountpoint ?? body.nfsName ?? '' }, label);
  button.addEventListener('click', () => {
    button.disabled = true;
    postJson<{ unmounted: string }>('/api/unmount', body)
      .then((r) => notify(`unmounted ${r.unmounted}`))
      .catch((err: unknown) => notify(describeFailure(err), true))
      .finally(onDone);
  });
  return button;
}

export function mountsView(root: HTMLElement, session: Promise<Session>): ViewHandle {
  const list = el('section', { id: 'mount-list' }, el('p', {}, 'loading…'));
  const nfs = el('section', { id: 'nfs-list' });
  const forms = el('section', { id: 'mount-forms' });
  const kindSelect = el('select', { id: 'mount-kind' });
  const formSlot = el('div');
  append(root, el('h2', {}, 'Mounts'), list, nfs, el('h2', {}, 'New mount'), forms);
  append(forms, el('div', { class: 'field' }, el('label', { for: 'mount-kind' }, 'Kind'), kindSelect), formSlot);

  let alive = true;
  let lastMounts: string | undefined;
  let lastNfs: string | undefined;
  // The two listings are drawn as each arrives: kmx nfs list (a child process) must not hold up the mounts.
  const refreshMounts = async (): Promise<void> => {
    const mounts = await getJson<{ mounts: KmxMount[] }>('/api/mounts').catch((err: unknown) => notify(describeFailure(err), true));
    if (!alive || !mounts) return;
    // Drawn again only when something changed: a table replaced under the pointer loses the click.
    const drawn = JSON.stringify(mounts.mounts);
    if (drawn === lastMounts) return;
    lastMounts = drawn;
    clear(list);
    append(list, table(['Mountpoint', 'Plugin', 'Source', 'Server pid', 'Engine', 'State', ''], mounts.mounts.map((m) => [
      m.mountpoint, m.plugin, m.source, m.pid === null ? '-' : String(m.pid), m.engine ?? '-', el('span', { class: `state state-${m.state}` }, m.status ? `${m.state} (${m.status})` : m.state),
      unmountButton('Unmount', m.plugin === 'nfs' ? { nfsName: m.mountpoint } : { mountpoint: m.mountpoint }, () => void refresh()),
    ]), { empty: 'No kmx mounts.', className: 'mounts' }));
    // For the first-load benchmark: when the page first shows data from the API.
    if (performance.getEntriesByName('kmx-first-data').length === 0) performance.mark('kmx-first-data');
  };
  const refreshNfs = async (): Promise<void> => {
    let failure: string | undefined;
    const nfsRows = await getJson<{ mounts: NfsRow[]; kmxd: boolean }>('/api/nfs').catch((err: unknown) => {
      failure = describeFailure(err);
      return undefined;
    });
    if (!alive) return;
    const drawn = JSON.stringify(nfsRows ?? failure ?? null);
    if (drawn === lastNfs) return;
    lastNfs = drawn;
    clear(nfs);
    if (failure !== undefined) append(nfs, el('p', { class: 'error' }, `NFS mounts: ${failure}`));
    const kernel = nfsRows?.mounts.filter((r) => r.mode === 'kernel') ?? [];
    if (kernel.length > 0) {
      append(nfs, table(['Name', 'Source', 'Mountpoint', 'Options', 'Link', ''], kernel.map((r) => [r.name, r.source, r.mountpoint, r.detail, r.link || '-', unmountButton('Unmount', { nfsName: r.name }, () => void refresh())]), { caption: 'Kernel NFS mounts (through kmxd)' }));
    } else if (nfsRows && !nfsRows.kmxd) {
      append(nfs, el('p', { class: 'muted' }, 'kmxd is not running: kernel NFS mounts are not listed.'));
    }
  };
  const refresh = async (): Promise<void> => {
    await Promise.all([refreshMounts(), refreshNfs()]);
  };
  // kmx nfs list is a process of its own: asked at start, after each action and every 30 s.
  let ticks = 0;
  const tick = (): void => {
    ticks += 1;
    void (ticks % 6 === 0 ? refresh() : refreshMounts());
  };
  const showForm = (): void => {
    clear(formSlot);
    append(formSlot, el('h3', {}, FORMS[kindSelect.value]?.title ?? kindSelect.value), mountForm(kindSelect.value, () => void refresh()));
  };
  kindSelect.addEventListener('change', showForm);
  void session.then((s) => {
    if (!alive) return;
    append(kindSelect, ...s.mountKinds.map((k) => el('option', { value: k }, FORMS[k]?.title ?? k)));
    showForm();
  }, () => undefined);
  void refresh();
  const timer = setInterval(tick, 5000);
  return { destroy: () => { alive = false; clearInterval(timer); } };
}

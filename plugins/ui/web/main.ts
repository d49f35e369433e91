// The page: a shell with four views, each drawn from the server's API. Views are paths
// (/, /ns, /procsys, /backups) that the server answers with this same page.
import { describeFailure, getJson, type Session } from './api.js';
import { clear } from './dom.js';
import { notify, type ViewHandle } from './shell.js';
import { backupsView } from './views/backups.js';
import { mountsView } from './views/mounts.js';
import { namespacesView } from './views/namespaces.js';
import { procsysView } from './views/procsys.js';

const VIEWS = ['mounts', 'ns', 'procsys', 'backups'] as const;
type View = (typeof VIEWS)[number];

const viewOf = (path: string): View => {
  const name = path === '/' ? 'mounts' : path.slice(1);
  return (VIEWS as readonly string[]).includes(name) ? (name as View) : 'mounts';
};

let current: ViewHandle | undefined;

function show(session: Promise<Session>, view: View): void {
  current?.destroy();
  const root = document.getElementById('view')!;
  clear(root);
  root.dataset.view = view;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a')) link.classList.toggle('active', link.dataset.view === view);
  const go = (next: View): void => {
    history.pushState(null, '', next === 'mounts' ? '/' : `/${next}`);
    show(session, next);
  };
  switch (view) {
    case 'mounts': current = mountsView(root, session); break;
    case 'ns': current = namespacesView(root, session, () => go('mounts')); break;
    case 'procsys': current = procsysView(root); break;
    case 'backups': current = backupsView(root); break;
  }
}

function start(): void {
  // Asked for at once, not awaited: a view starts its own requests meanwhile.
  const session = getJson<Session>('/api/session');
  session.then((s) => {
    document.getElementById('who')!.textContent = `${s.user} (uid ${s.uid})`;
  }, (err: unknown) => notify(`kmx ui: ${describeFailure(err)}`, true));
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    link.addEventListener('click', (event) => {
      event.preventDefault();
      history.pushState(null, '', link.getAttribute('href'));
      show(session, viewOf(location.pathname));
    });
  }
  window.addEventListener('popstate', () => show(session, viewOf(location.pathname)));
  show(session, viewOf(location.pathname));
}

start();

import { ApiRoutes } from '../server/routes.js';
import { BackupJobs } from './backups.js';
import type { KmxExecutable } from './kmx-child.js';
import { mountFromForm } from './mount-forms.js';
import { listMounts, listNfs, unmount } from './mounts.js';
import { namespaceDetails, namespaceGraph } from './namespaces.js';
import { procsysClusters } from './procsys.js';
import { sessionInfo } from './session.js';

export { BackupJobs } from './backups.js';
export type { KmxExecutable } from './kmx-child.js';

/** Every API route of the page, over the plugins' libraries and commands. */
export function apiRoutes(kmx: KmxExecutable, backups: BackupJobs): ApiRoutes {
  return new ApiRoutes()
    .add('GET', '/api/session', async () => sessionInfo())
    .add('GET', '/api/mounts', async () => listMounts())
    .add('GET', '/api/nfs', async () => listNfs(kmx))
    .add('POST', '/api/mounts/:kind', async ({ params, body }) => mountFromForm(kmx, params.kind!, body))
    .add('POST', '/api/unmount', async ({ body }) => unmount(kmx, body))
    .add('GET', '/api/ns/graph', async ({ query }) => namespaceGraph(query))
    .add('GET', '/api/ns/details/:id', async ({ params }) => namespaceDetails(params.id!))
    .add('GET', '/api/procsys', async () => procsysClusters())
    .add('GET', '/api/backups', async () => backups.list())
    .add('POST', '/api/backups', async ({ body }) => backups.start(body))
    .add('POST', '/api/backups/:id/stop', async ({ params }) => backups.stop(params.id!));
}

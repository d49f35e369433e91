// kmx ui: a local web application over the plugins' libraries. The server (lib/server), its
// security checks (lib/security), the API (lib/api) and the launch (lib/launch) are usable
// without oclif; the page's own code is under web/ and built into dist/web.
export { startUiServer, VIEWS, type UiServer, type UiServerOptions, type View } from './lib/server/server.js';
export { runUi, type RunUiOptions } from './lib/launch/run-ui.js';
export { runningServer, type ServerRecord } from './lib/launch/record.js';
export { apiRoutes, BackupJobs, type KmxExecutable } from './lib/api/index.js';
export { hostAllowed, originAllowed, CONTENT_SECURITY_POLICY, type Listening } from './lib/security/guard.js';
export { procNetAddress } from './lib/security/peer-uid.js';

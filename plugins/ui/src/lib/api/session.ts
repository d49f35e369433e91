import { userInfo } from 'node:os';
import { graphViewerAvailable } from './namespaces.js';
import { MOUNT_KINDS } from './mount-forms.js';

/** Who the server acts as, and what the page can offer. */
export function sessionInfo(): { user: string; uid: number; mountKinds: readonly string[]; graphViewer: boolean } {
  const uid = process.getuid?.() ?? 0;
  let user = String(uid);
  try {
    user = userInfo().username;
  } catch {
    // a uid with no passwd entry: its number will do
  }
  return { user, uid, mountKinds: MOUNT_KINDS, graphViewer: graphViewerAvailable() };
}

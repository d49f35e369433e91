import { readFile } from 'node:fs/promises';
import { kmxd, requestKmxd, type MountEntryMessage } from '@kmx/core/daemon';
import { linkRelativeToHome } from '../kernel/kernel-mount.js';
import type { SmbCredentials } from './credentials.js';
import type { SmbShare, SmbVersion } from './url.js';

// A kernel CIFS mount, asked of kmxd: what to mount, the credentials (over kmxd's socket only),
// and the options from kmxd's allow-list; never who asks, nor uid/gid/modes (kmxd sets them).

const VERSIONS: Record<SmbVersion, number> = { '2.1': kmxd.SmbVersion.SMB_V2_1, '3.0': kmxd.SmbVersion.SMB_V3_0, '3.1.1': kmxd.SmbVersion.SMB_V3_1_1 };

/** Whether this kernel has the CIFS client (built in or loaded). */
export async function kernelHasCifs(): Promise<boolean> {
  const types = (await readFile('/proc/filesystems', 'utf8').catch(() => '')).split('\n').map((l) => l.split('\t').at(-1));
  return types.includes('cifs') || types.includes('smb3');
}

export interface KernelSmbMount {
  name: string;
  version: SmbVersion | undefined;
  readOnly: boolean;
  port: number;
  options: Array<{ key: string; value: string }>;
  link?: string | undefined;
}

export async function mountSmbThroughKmxd(source: SmbShare, credentials: SmbCredentials, o: KernelSmbMount): Promise<MountEntryMessage> {
  const password = new Uint8Array(credentials.password);
  try {
    const response = await requestKmxd({
      mountSmb: {
        name: o.name, server: source.server, share: source.share, path: source.path, version: o.version ? VERSIONS[o.version] : kmxd.SmbVersion.SMB_VERSION_UNSPECIFIED,
        readOnly: o.readOnly, port: o.port, user: credentials.user, domain: credentials.domain, password, kerberos: credentials.kerberos,
        options: o.options, link: o.link ? linkRelativeToHome(o.link) : '',
      },
    });
    return response.mounted?.mount ?? {};
  } finally {
    password.fill(0);
  }
}

import { KmxCommand, formatTable } from '@kmx/core';
import { listNfsMounts, type NfsMountRow } from '../../lib/mounts.js';

export default class SmbList extends KmxCommand {
  static override summary = 'List your SMB mounts: kernel ones kmxd made for you and user-space ones.';
  static override enableJsonFlag = true;
  static override examples = [
    { description: 'A table', command: '<%= config.bin %> smb list' },
    { description: 'For scripts', command: '<%= config.bin %> smb list --json' },
  ];

  async run(): Promise<{ mounts: NfsMountRow[]; kmxd: boolean }> {
    const { mounts, daemon } = await listNfsMounts('smb');
    if (!this.jsonEnabled()) {
      if (mounts.length === 0) this.log('no SMB mounts');
      else this.log(formatTable(['NAME', 'SOURCE', 'MOUNTPOINT', 'MODE', 'DETAIL', 'LINK'], mounts.map((m) => [m.name, m.source, m.mountpoint, m.mode, m.detail, m.link])));
      if (!daemon) this.log('(kmxd is not running: kernel mounts are not listed)');
    }
    return { mounts, kmxd: daemon };
  }
}

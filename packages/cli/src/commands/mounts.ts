import { KmxCommand, formatTable, listKmxMounts, type KmxMount } from '@kmx/core';

export default class Mounts extends KmxCommand {
  static override summary = 'List every mount kmx made, whatever the plugin, and whether it still answers.';
  static override description = `Read from /proc/self/mountinfo (kmx filesystems have the type fuse.kmx-<plugin>) and joined with kmx's records for the serving pid.
STATE is ok, stale (the server is gone: clear it with kmx umount) or unresponsive (the server did not answer within 2 s), followed by what the plugin reports, if anything (kmx sftp: connected, or reconnecting and why).`;

  static override examples = ['<%= config.bin %> mounts', '<%= config.bin %> mounts --json'];
  static override enableJsonFlag = true;

  async run(): Promise<KmxMount[]> {
    await this.parse(Mounts);
    const mounts = await listKmxMounts();
    if (!this.jsonEnabled()) {
      if (mounts.length === 0) this.log('no kmx mounts');
      else {
        const rows = mounts.map((m) => [m.mountpoint, m.plugin, m.source, m.pid === null ? '-' : String(m.pid), m.engine ?? '-', m.status ? `${m.state} (${m.status})` : m.state]);
        this.log(formatTable(['MOUNTPOINT', 'PLUGIN', 'SOURCE', 'PID', 'ENGINE', 'STATE'], rows));
      }
    }
    return mounts;
  }
}

import { KmxCommand } from '@kmx/core';
import { runDoctor, runPluginChecks, type Check } from '../lib/doctor.js';

export default class Doctor extends KmxCommand {
  static override summary = 'Show what this host supports for kmx, and how to fix what is missing.';
  static override description = 'One line per check: ok, or missing plus the command that fixes it. Exits 1 when kmx cannot mount at all.';
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json'];
  static override enableJsonFlag = true;

  async run(): Promise<Check[]> {
    await this.parse(Doctor);
    const checks = [...(await runDoctor()), ...(await runPluginChecks(this.config))];
    if (!this.jsonEnabled()) {
      const width = Math.max(...checks.map((c) => c.name.length));
      for (const c of checks) {
        const status = c.ok ? 'ok     ' : 'missing';
        this.log(`${status}  ${c.name.padEnd(width)}  ${c.detail}${c.fix ? `; fix: ${c.fix}` : ''}`);
      }
    }
    if (checks.some((c) => c.required && !c.ok)) process.exitCode = 1;
    return checks;
  }
}

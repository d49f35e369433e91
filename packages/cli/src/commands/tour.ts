import { KmxCommand, Tour } from '@kmx/core';
import { passthroughTour, runPluginTours } from '../lib/tour.js';

export default class TourCommand extends KmxCommand {
  static override summary = 'A guided tour on built-in sample data: mounts, shows each plugin working, cleans up.';
  static override description = 'Every step prints the command it runs and its output. Nothing outside a temporary directory is touched, and everything mounted is unmounted at the end, even if a step fails.';
  static override examples = ['<%= config.bin %> tour'];

  async run(): Promise<void> {
    await this.parse(TourCommand);
    const tour = new Tour({ kmx: this.config.root + '/bin/run.js', write: (text) => process.stdout.write(text) });
    try {
      await passthroughTour(tour);
      // Each plugin adds its own part through the kmx-tour hook, one after another.
      await runPluginTours(this.config, tour);
      tour.section('Done');
      tour.say('Everything the tour mounted has been unmounted, and its files removed.');
    } finally {
      await tour.cleanUp();
    }
  }
}

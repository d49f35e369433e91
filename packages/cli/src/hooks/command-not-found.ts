import type { Hook } from '@oclif/core';
import { closest } from '@kmx/core';

/**
 * Unknown commands get kmx's one-line error and exit code 2, like every other bad input, with
 * the command most likely meant.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const words = options.id.split(':').join(' ');
  const known = [...this.config.commandIDs, ...this.config.topics.map((t) => t.name)].map((id) => id.replaceAll(':', ' '));
  const meant = closest(words, known);
  process.stderr.write(`kmx: unknown command "${words}"; ${meant ? `did you mean "kmx ${meant}"? ` : ''}see: kmx --help\n`);
  this.exit(2);
};

export default hook;

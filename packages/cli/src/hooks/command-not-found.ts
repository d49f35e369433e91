import type { Hook } from '@oclif/core';

/** Unknown commands get kmx's one-line error and exit code 2, like every other bad input. */
const hook: Hook<'command_not_found'> = async function (options) {
  const words = options.id.split(':').join(' ');
  process.stderr.write(`kmx: unknown command "${words}"; see: kmx --help\n`);
  this.exit(2);
};

export default hook;

import type { Interfaces } from '@oclif/core';
import type { Tour } from '@kmx/core';

/** kmx sftp's part of `kmx tour` (the kmx-tour hook). */
const hook = async function (options: { tour: Tour } & Partial<Interfaces.Hooks['init']['options']>): Promise<void> {
  const { sftpTour } = await import('../lib/tour.js');
  await sftpTour(options.tour);
};
export default hook;

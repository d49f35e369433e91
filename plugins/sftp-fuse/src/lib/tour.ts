import type { Tour } from '@kmx/core';

export async function sftpTour(tour: Tour): Promise<void> {
  tour.section('kmx sftp');
}

import { prepareVmImage as prepareImage, type VmImage } from '@kmx/core/testing';

/** The NFS client's modules (with sunrpc, lockd, nfs and the rest they pull in). */
export const NFS_MODULES = ['sunrpc', 'nfsv4', 'nfsv3'];

/** The VM image (core's) with an NFS client, for the kernel-mount tests. */
export function prepareVmImage(): VmImage {
  return prepareImage({ modules: NFS_MODULES });
}

import { UsageError, type FuseOptions } from '@kmx/core';

// -o for a user-space mount: FUSE options, plus the NFS ones a kernel mount would take. timeo
// (deciseconds, as in nfs(5)) sets libnfs's per-call timeout; the others have no user-space meaning.

const KERNEL_ONLY = new Set(['soft', 'hard', 'softerr', 'retrans', 'rsize', 'wsize', 'ac', 'noac', 'actimeo', 'acregmin', 'acregmax',
  'acdirmin', 'acdirmax', 'cto', 'nocto', 'rdirplus', 'nordirplus', 'sharecache', 'nosharecache', 'lookupcache', 'sec', 'noresvport',
  'lock', 'nolock', 'local_lock', 'noexec', 'nosymfollow', 'rw']);

export interface UserspaceOptions {
  timeoutMs: number;
  ignored: string[];
}

export function userspaceOptionParser(defaultTimeoutMs: number): { parsed: UserspaceOptions; extra: (name: string, value: string | undefined) => boolean } {
  const parsed: UserspaceOptions = { timeoutMs: defaultTimeoutMs, ignored: [] };
  return {
    parsed,
    extra: (name, value) => {
      if (name === 'timeo') {
        if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 6000) throw new UsageError(`bad mount option timeo=${value ?? ''}`, 'timeo= is the timeout in deciseconds, 1 to 6000 (or use --timeout SECONDS)');
        parsed.timeoutMs = Number(value) * 100;
        return true;
      }
      if (KERNEL_ONLY.has(name)) {
        parsed.ignored.push(name);
        return true;
      }
      return false;
    },
  };
}

/** Defaults for NFS through FUSE: short attribute caching (the server may change under us), big I/O. */
export const NFS_FUSE_DEFAULTS: FuseOptions = { useIno: true, attrTimeout: 1, entryTimeout: 1, negativeTimeout: 0, maxRead: 1048576, maxWrite: 1048576, maxBackground: 64, congestionThreshold: 48 };

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Attr, DirEntry } from '@kmx/core';
import { PATHS_PER_BATCH, PROCESS_FILE_VALID_S, SCANNED_FILES, processFileAttr, scanBatches } from '../src/lib/cluster/process-files.js';

const time = { sec: 1_700_000_000, nsec: 5 };
const dirAttr: Attr = { mode: 0o40555, nlink: 9, uid: 1000, gid: 1000, size: 0, atime: time, mtime: time, ctime: time };
const listing: DirEntry[] = [{ name: 'meminfo', attr: { ...dirAttr, mode: 0o100444 } }, { name: '42', attr: dirAttr }];
const names = new Set(['stat', 'status', 'cmdline', 'statm', 'environ', 'fd', 'task', 'comm']);

describe('procsys: what a scan knows of a process\'s files without asking', () => {
  it('fixed-mode files take the process directory\'s owner and times, with the kernel\'s mode', () => {
    for (const file of ['stat', 'status', 'cmdline', 'statm']) {
      assert.deepEqual(processFileAttr(`/42/${file}`, listing, names), { ...dirAttr, mode: 0o100444, nlink: 1, size: 0, validSeconds: PROCESS_FILE_VALID_S });
    }
    assert.equal(processFileAttr('/42/environ', listing, names)?.mode, 0o100400);
  });

  it('a name no process directory holds is ENOENT; other names and unlisted pids are left to the host', () => {
    assert.throws(() => processFileAttr('/42/ctty', listing, names), { code: 'ENOENT' });
    assert.equal(processFileAttr('/42/comm', listing, names), undefined, 'a file whose mode the kernel does not fix');
    assert.equal(processFileAttr('/42/ctty', listing, undefined), undefined, 'before the names are known');
    assert.equal(processFileAttr('/43/stat', listing, names), undefined, 'a thread\'s hidden /proc/TID');
    assert.equal(processFileAttr('/42/task/42/stat', listing, names), undefined, 'deeper paths');
    assert.equal(processFileAttr('/42/stat', undefined, names), undefined, 'no scan');
  });

  it('batches every scanned file of every process, none larger than an agent accepts', () => {
    const pids = Array.from({ length: 5000 }, (_, i) => String(i + 1));
    const batches = scanBatches(pids);
    assert.ok(batches.every((b) => b.length <= PATHS_PER_BATCH));
    const all = batches.flat();
    assert.equal(all.length, pids.length * SCANNED_FILES.length);
    assert.equal(new Set(all).size, all.length);
    assert.deepEqual(all.slice(0, 4), ['/1/stat', '/1/status', '/1/cmdline', '/1/statm']);
    assert.deepEqual(scanBatches([]), []);
  });
});

// Test helpers shared by every package's tests (imported as '@kmx/core/testing').
export { withTestMount, type TestMount, type TestMountOptions } from './test-mount.js';
export { run, sh, python, runKmx, kmxBin, type RunResult } from './processes.js';
export { atTerminal, type Keystrokes } from './terminal.js';
export { temporaryDirectory, mountsUnder } from './temp.js';
export { withTestUsers, type TestUser } from './users.js';
export { throwsSysError, rejectsSysError, assertOneLineError, assertCleanFailure, processesMentioning, type ExpectedSysError, type CleanFailureOptions } from './assertions.js';
export { freePort, listening, listensOn, stopChild } from './peers.js';
export { sameAsPlain, scriptOutput, type ScriptOptions } from './compare.js';
export { listedMount } from './listed.js';
export { lineWriter, writtenLines, type LineWriter } from './line-writer.js';
export { prepareVmImage, VmImageUnavailable, runVm, bootVm, vmUnavailable, VM_CACHE, BASE_MODULES, type VmImage, type VmImageOptions, type VmRun, type VmOptions } from './vm/index.js';

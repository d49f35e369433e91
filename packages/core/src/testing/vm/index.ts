// A Debian kernel under QEMU for tests that need a kernel this host does not have.
export { prepareVmImage, VmImageUnavailable, VM_CACHE, BASE_MODULES, type VmImage, type VmImageOptions } from './image.js';
export { runVm, bootVm, vmUnavailable, type VmRun, type VmOptions } from './qemu.js';

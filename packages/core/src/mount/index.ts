export * from './mountinfo.js';
export * from './registry.js';
export * from './unmount.js';
export * from './table.js';
export * from './namespace.js';
export * from './namespace-run.js';
export * from './namespace-hold.js';
export * from './mount-helper.js';
export { HELPER_FAILED, defaultHelperPath, parseHelperReport, type HelperOptions } from './nshelper.js';

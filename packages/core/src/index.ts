export * from './errors/index.js';
export * as libc from './libc/index.js';
export * from './di/index.js';
export * from './fuse/index.js';
export * from './mount/index.js';
export * from './passthrough/index.js';
export * from './cli/index.js';
export * from './connection/index.js';

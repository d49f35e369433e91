export * from './types.js';
export * from './options.js';
export { ENGINE_NAMES, type EngineName, type FuseEngine } from './engine.js';
export { selectEngine, isEngineName } from './engines/index.js';
export * from './mount.js';
export { widenReadahead } from './readahead.js';
export { BufferPool, SizedBufferPool, writeCopyPool } from './buffer-pool.js';
export { renamedPath } from './paths.js';

// Namespace relations on nsfs files: typed, disposable handles and the linuxns-rel functions.
export * from './types.js';
export * from './errors.js';
export * from './handle.js';

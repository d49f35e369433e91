export * from './mountinfo.js';
export * from './registry.js';
export * from './unmount.js';
export * from './table.js';

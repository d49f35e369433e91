export { PassthroughFileSystem } from './passthrough.js';
export { attrFromStats, fstatAttr, lstatAttr } from './attributes.js';
export { listDirectory, listWithNodeFs, nativeListing } from './listing.js';
export { AsCaller } from './as-caller.js';
export { withUsablePath } from './long-paths.js';

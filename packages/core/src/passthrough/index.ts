export { PassthroughFileSystem } from './passthrough.js';
export { attrFromStats } from './attributes.js';
export { listDirectory, listWithNodeFs, nativeListing } from './listing.js';
export { AsCaller } from './as-caller.js';

export { PassthroughFileSystem, attrFromStats } from './passthrough.js';
export { AsCaller } from './as-caller.js';

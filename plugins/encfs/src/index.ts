// kmx enc: gocryptfs-format encrypted views. The commands are thin; the library under lib/
// is laid out like gocryptfs's internal/ tree, one concern per folder.
export { Volume } from './lib/volume/index.js';
export { openForward } from './lib/frontend/index.js';
export { openReverse, PlainTree } from './lib/reverse/index.js';
export { Config, readConfig, unlockConfig } from './lib/configfile/index.js';

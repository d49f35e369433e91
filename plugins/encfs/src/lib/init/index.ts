// Creating filesystems: a CIPHERDIR, a reverse config, a multi-source config.
export { initForward, initReverse, initSources, type InitOptions, type Initialized } from './initialize.js';

// Creating filesystems: a CIPHERDIR, a reverse config, a multi-source config.
export { initForward, initReverse, initSources, type InitOptions } from './initialize.js';

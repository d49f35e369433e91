// Worker threads for content encryption: every core does crypto while the main thread serves FUSE.
export { CryptoPool, WriteFailure, startCryptoPool, workerCount } from './pool.js';
export type { WorkerSetup } from './protocol.js';

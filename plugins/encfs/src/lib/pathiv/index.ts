// IVs derived from paths: how reverse mode stays deterministic.
export { blockNonces, pathIv, type IvPurpose } from './pathiv.js';

// Checking a CIPHERDIR for corruption (kmx enc fsck).
export { Fsck, type FsckProblem, type FsckReport } from './fsck.js';

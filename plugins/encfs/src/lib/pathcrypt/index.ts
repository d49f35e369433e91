// Translating paths between the plaintext and the encrypted side (kmx enc encrypt-path / decrypt-path).
export { forwardPathCrypt, reversePathCrypt, type PathCrypt } from './pathcrypt.js';

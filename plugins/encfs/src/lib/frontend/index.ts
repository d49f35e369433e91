// Forward mode (gocryptfs's fusefrontend): the read-write plaintext view of a CIPHERDIR.
export { ForwardFileSystem, type ForwardOptions } from './forward-fs.js';
export { CipherTree, type CipherEntry } from './cipher-tree.js';
export { CorruptionLog } from './corruption-log.js';
export { FileContent } from './file-content.js';
export { XattrCrypt, XATTR_PREFIX } from './xattrs.js';
export { openForward } from './open-forward.js';

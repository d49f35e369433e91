// File content: the header, the block layout and size arithmetic, block encryption.
export { BlockLayout, FILE_ID_BYTES, HEADER_BYTES, HEADER_VERSION, PLAIN_BLOCK } from './layout.js';
export { encodeHeader, parseHeader } from './header.js';
export { ContentEnc, CorruptBlockError, type NonceSource } from './content.js';

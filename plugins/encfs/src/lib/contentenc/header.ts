import { FILE_ID_BYTES, HEADER_BYTES, HEADER_VERSION } from './layout.js';

export function encodeHeader(fileId: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(HEADER_VERSION, 0);
  fileId.copy(header, 2);
  return header;
}

/** The file ID of a header, or a reason it is not a valid one. */
export function parseHeader(header: Buffer): { fileId: Buffer } | { error: string } {
  if (header.length < HEADER_BYTES) return { error: `the header is ${header.length} bytes, not ${HEADER_BYTES}` };
  const version = header.readUInt16BE(0);
  if (version !== HEADER_VERSION) return { error: `header version ${version}, not ${HEADER_VERSION}` };
  const fileId = Buffer.from(header.subarray(2, 2 + FILE_ID_BYTES));
  if (fileId.every((b) => b === 0)) return { error: 'the file ID is all zeros' };
  return { fileId };
}

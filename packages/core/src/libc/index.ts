// The libc layer: koffi bindings for the system calls kmx needs. Every failing call throws
// SysError (errno name and number, the call, the path); koffi loads on first use.
export * from './constants.js';
export * from './files.js';
export * from './identity.js';
export * from './memory.js';
export * from './mount.js';
export * from './namespaces.js';
export * from './socket.js';
export * from './users.js';
export * from './xattr.js';
export { koffi } from './library.js';

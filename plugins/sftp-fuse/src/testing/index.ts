// Test and benchmark helpers of kmx sftp (imported as '@kmx/plugin-sftp-fuse/testing').
export { startSshd, type TestSshd } from './sshd.js';

// kmxd, the root daemon, and its clients: the protocol, the policy, the server and a client.
export { Kmxd, DEFAULT_DAEMON_OPTIONS, type DaemonOptions } from './server.js';
export { kmxdMain, parseDaemonArgs, KMXD_HELP } from './main.js';
export { KmxdClient, requestKmxd, DaemonError, DaemonUnavailableError, KMXD_SOCKET, kmxdSocketPath } from './client.js';
export {
  kmxd, PROTOCOL_VERSION, MAX_FRAME, FrameError, FrameReader, takeFrame, encodeRequest, encodeResponse, decodeRequest, decodeResponse,
  type Request as DaemonRequest, type Response as DaemonResponse, type MountEntryMessage,
} from './protocol.js';
export { checkMountName, checkLinkPath, checkNfsOptions, checkServer, checkExportPath } from './policy.js';
export { nfsMountSpec, optionString, type NfsVersion, type KernelMountSpec } from './nfs.js';
export { parsePolicy, loadPolicy, checkServerAllowed, checkPortsAllowed, DEFAULT_POLICY, DEFAULT_CONFIG_PATH, type DaemonPolicy } from './config.js';
export { createLog, LOG_LEVELS, type LogLevel, type DaemonLog } from './log.js';

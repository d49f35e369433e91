// gocryptfs.conf: reading, checking, unlocking, creating and rewriting it.
export { CONFIG_VERSION, Config, DEFAULT_LONG_NAME_MAX, MIN_LONG_NAME_MAX, type ConfigJson, type SourceEntry } from './config.js';
export { FeatureFlag, KNOWN_FLAGS, UNSUPPORTED_FLAGS, flagsFor, type FormatChoices } from './feature-flags.js';
export { DEFAULT_LOG_N, MAX_LOG_N, MIN_LOG_N, deriveKek, newScryptObject, type ScryptObject } from './scrypt.js';
export { unwrapMasterKey, wrapMasterKey } from './masterkey.js';
export {
  FORWARD_CONFIG, REVERSE_CONFIG, forwardConfigPath, newConfig, readConfig, reverseConfigPath, rewrapConfig, unlockConfig, writeConfig,
  type NewConfigOptions,
} from './store.js';

// What the commands share: flags, finding the config a command works on, unlocking it.
export { configFlag, masterKeyFlag, passwordFlags, targetFlags } from './flags.js';
export { checkSeparate, describeTarget, directoriesOf, loadTargetConfig, locateTarget, plainTreeOf, type Target, type TargetFlags } from './targets.js';
export { unlockTarget, unlockWithPassword, type KeySource } from './unlock.js';
export { formatMasterKey, masterKeyNotice, parseMasterKey } from './masterkey.js';
export { openView } from './views.js';
export { openPathCrypt } from './path-crypt.js';
export {
  GOCRYPTFS_FSCK_SPELLINGS, GOCRYPTFS_INIT_SPELLINGS, GOCRYPTFS_MOUNT_SPELLINGS, GOCRYPTFS_PASSWD_SPELLINGS, GOCRYPTFS_TARGET_SPELLINGS,
} from './gocryptfs-spellings.js';

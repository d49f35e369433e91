// What the commands share: flags, finding the config a command works on, unlocking it.
export { passwordFlags, targetFlags } from './flags.js';
export { checkSeparate, describeTarget, directoriesOf, loadTargetConfig, locateTarget, plainTreeOf, type Target, type TargetFlags } from './targets.js';
export { unlockWithPassword } from './unlock.js';
export { openView } from './views.js';
export { openPathCrypt } from './path-crypt.js';

import { forwardPathCrypt, reversePathCrypt, type PathCrypt } from '../pathcrypt/index.js';
import type { PasswordSource } from '../readpassword/index.js';
import { Volume } from '../volume/index.js';
import { loadTargetConfig, locateTarget, plainTreeOf, type TargetFlags } from './targets.js';
import { unlockWithPassword } from './unlock.js';

/**
 * The path translator for encrypt-path and decrypt-path, and the path to translate: their
 * arguments are DIR PATH, or just PATH with --sources.
 */
export async function openPathCrypt(first: string, second: string | undefined, flags: TargetFlags & PasswordSource): Promise<{ crypt: PathCrypt; path: string }> {
  const [dir, path] = flags.sources !== undefined && second === undefined ? [undefined, first] : [first, second ?? ''];
  const target = await locateTarget(dir, flags);
  const config = await loadTargetConfig(target);
  const volume = new Volume(config, await unlockWithPassword(config, flags));
  const crypt = target.kind === 'forward' ? forwardPathCrypt(target.dir, volume) : reversePathCrypt(await plainTreeOf(target, config), volume);
  return { crypt, path };
}

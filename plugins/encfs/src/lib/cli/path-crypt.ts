import { forwardPathCrypt, reversePathCrypt, type PathCrypt } from '../pathcrypt/index.js';
import type { PasswordSource } from '../readpassword/index.js';
import { Volume } from '../volume/index.js';
import { loadTargetConfig, locateTarget, plainTreeOf, type TargetFlags } from './targets.js';
import { unlockWithPassword } from './unlock.js';

/**
 * The path translator for encrypt-path and decrypt-path, and the paths to translate: their
 * arguments are DIR PATH…, or just PATH… with --sources (no PATH: the root).
 */
export async function openPathCrypt(positionals: readonly string[], flags: TargetFlags & PasswordSource): Promise<{ crypt: PathCrypt; paths: string[] }> {
  const dir = flags.sources !== undefined ? undefined : positionals[0];
  const rest = positionals.slice(flags.sources !== undefined ? 0 : 1);
  const paths = rest.length > 0 ? rest : [''];
  const target = await locateTarget(dir, flags);
  const config = await loadTargetConfig(target);
  const volume = new Volume(config, await unlockWithPassword(config, flags));
  const crypt = target.kind === 'forward' ? forwardPathCrypt(target.dir, volume) : reversePathCrypt(await plainTreeOf(target, config), volume);
  return { crypt, paths };
}

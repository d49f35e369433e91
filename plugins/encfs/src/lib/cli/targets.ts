import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KmxError, UsageError, existingDirectory, isWithin } from '@kmx/core';
import { FORWARD_CONFIG, REVERSE_CONFIG, forwardConfigPath, readConfig, reverseConfigPath, type Config } from '../configfile/index.js';
import { ExitCode } from '../exitcodes/index.js';
import { PlainTree, resolveSources } from '../reverse/index.js';

/** What a command works on, and where its config lives. */
export type Target =
  | { kind: 'forward'; dir: string; configFile: string }
  | { kind: 'reverse'; dir: string; configFile: string }
  | { kind: 'sources'; configFile: string };

export interface TargetFlags {
  reverse?: boolean;
  sources?: string | undefined;
  /** The config file kept elsewhere (gocryptfs -config). */
  config?: string | undefined;
}

/**
 * The target named by a command's DIR argument and flags. Without --reverse a directory is a
 * CIPHERDIR; if it has only a reverse config the error says to add --reverse. `anyKind` (for
 * commands where the kind is not ambiguous: info, passwd) also accepts a config file as DIR
 * and a reverse directory without --reverse.
 */
export async function locateTarget(dir: string | undefined, flags: TargetFlags, options: { anyKind?: boolean } = {}): Promise<Target> {
  if (flags.sources !== undefined) {
    if (dir !== undefined && !options.anyKind) throw new UsageError(`--sources names the config; DIR (${dir}) is not expected with it`);
    return { kind: 'sources', configFile: resolve(flags.sources) };
  }
  if (dir === undefined) throw new UsageError('a directory is required', 'name a CIPHERDIR, or a plain directory with --reverse, or a config with --sources');
  if (options.anyKind && flags.config === undefined && (await stat(dir).catch(() => undefined))?.isFile()) return configFileTarget(resolve(dir));
  if (flags.reverse) {
    const plain = await existingDirectory(dir, 'plain directory');
    return { kind: 'reverse', dir: plain, configFile: flags.config !== undefined ? resolve(flags.config) : reverseConfigPath(plain) };
  }
  const cipher = await existingDirectory(dir, 'cipher directory');
  if (flags.config !== undefined) return { kind: 'forward', dir: cipher, configFile: resolve(flags.config) };
  const forward = forwardConfigPath(cipher);
  if (!(await exists(forward)) && (await exists(reverseConfigPath(cipher)))) {
    if (options.anyKind) return { kind: 'reverse', dir: cipher, configFile: reverseConfigPath(cipher) };
    throw new KmxError(`${dir} holds a reverse config (${REVERSE_CONFIG}), not a CIPHERDIR`, { exitCode: ExitCode.loadConfig, hint: 'add --reverse to work on its encrypted view' });
  }
  return { kind: 'forward', dir: cipher, configFile: forward };
}

async function configFileTarget(file: string): Promise<Target> {
  if (file.endsWith(`/${FORWARD_CONFIG}`)) return { kind: 'forward', dir: resolve(file, '..'), configFile: file };
  if (file.endsWith(`/${REVERSE_CONFIG}`)) return { kind: 'reverse', dir: resolve(file, '..'), configFile: file };
  return { kind: 'sources', configFile: file };
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** What the user pointed at, for messages. */
export function describeTarget(target: Target): string {
  return target.kind === 'sources' ? `the sources config ${target.configFile}` : target.dir;
}

/** Reads and checks the target's config; a multi-source config must list sources, the others must not. */
export async function loadTargetConfig(target: Target): Promise<Config> {
  const config = await readConfig(target.configFile, describeTarget(target));
  if (target.kind === 'sources' && !config.sources) {
    throw new KmxError(`${target.configFile} lists no sources (no "KmxSources")`, { exitCode: ExitCode.loadConfig, hint: 'create a multi-source config with: kmx enc init --reverse --sources FILE --source LABEL=PATH' });
  }
  if (target.kind !== 'forward' && !config.aesSiv) {
    throw new KmxError(`${target.configFile} is not a reverse config: reverse views need the AESSIV feature flag`, { exitCode: ExitCode.loadConfig, hint: 'create one with kmx enc init --reverse' });
  }
  return config;
}

/** The plaintext side of a reverse target. */
export async function plainTreeOf(target: Target, config: Config): Promise<PlainTree> {
  if (target.kind === 'reverse') return PlainTree.directory(target.dir);
  if (target.kind === 'sources') return PlainTree.sourcesOf(await resolveSources(config.sources ?? [], target.configFile));
  throw new KmxError('a CIPHERDIR has no plaintext tree');
}

/** The real directories a target reads or writes (for mountpoint containment checks). */
export function directoriesOf(target: Target, tree?: PlainTree): string[] {
  if (target.kind === 'sources') return tree?.realRoots ?? [];
  return [target.dir];
}

/** Refuses a mountpoint inside a directory the view serves (the server would wait on itself), or around one. */
export function checkSeparate(mountpoint: string, directories: readonly string[]): void {
  for (const dir of directories) {
    if (isWithin(mountpoint, dir) || isWithin(dir, mountpoint)) {
      throw new KmxError(`the mountpoint ${mountpoint} and ${dir} must not contain each other`, { exitCode: ExitCode.mountPoint, hint: 'mount outside the directories the view is made of' });
    }
  }
}

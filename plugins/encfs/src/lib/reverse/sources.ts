import { realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KmxError, errnoOf, isWithin } from '@kmx/core';
import { REVERSE_CONFIG, type SourceEntry } from '../configfile/index.js';
import { ExitCode } from '../exitcodes/index.js';
import { NAME_MAX, isValidPlainName } from '../nametransform/index.js';

/** Why a label cannot name a source, or undefined when it can. */
export function labelProblem(label: string): string | undefined {
  if (!isValidPlainName(label)) return 'a label must be a file name: not empty, ".", ".." and without "/" or NUL';
  if (Buffer.byteLength(label) > NAME_MAX) return `a label is at most ${NAME_MAX} bytes`;
  if (label === REVERSE_CONFIG) return `${REVERSE_CONFIG} is where stock gocryptfs would look for the config when restoring`;
  return undefined;
}

/** `label=path` from the command line. */
export function parseSourceSpec(spec: string): SourceEntry {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1) throw new KmxError(`--source ${spec}: expected LABEL=PATH`, { exitCode: 2, hint: 'for example --source docs=~/Documents' });
  return { Label: spec.slice(0, eq), Path: spec.slice(eq + 1) };
}

/** Checks labels (valid, unique) before anything is written. */
export function checkLabels(sources: readonly SourceEntry[], where: string): void {
  if (sources.length === 0) throw new KmxError(`${where} lists no sources`, { exitCode: ExitCode.loadConfig, hint: 'add at least one: --source LABEL=PATH' });
  const seen = new Set<string>();
  for (const { Label } of sources) {
    const problem = labelProblem(Label);
    if (problem) throw new KmxError(`${where}: bad source label "${Label}": ${problem}`, { exitCode: ExitCode.loadConfig });
    if (seen.has(Label)) throw new KmxError(`${where}: the source label "${Label}" is used twice`, { exitCode: ExitCode.loadConfig, hint: 'each source needs its own label: it becomes its top-level directory' });
    seen.add(Label);
  }
}

/**
 * The sources of a multi-source config as label → real directory. Relative paths are taken
 * from the config's directory. Every source must be a directory, and the config must lie
 * outside all of them (the view would otherwise publish it encrypted, and the key material
 * belongs with the user, not with the backup).
 */
export async function resolveSources(sources: readonly SourceEntry[], configFile: string): Promise<Map<string, string>> {
  checkLabels(sources, configFile);
  const configReal = await realpath(configFile).catch(() => resolve(configFile));
  const map = new Map<string, string>();
  for (const { Label, Path } of sources) {
    const path = resolve(dirname(configFile), Path);
    let real: string;
    try {
      real = await realpath(path);
      if (!(await stat(real)).isDirectory()) throw new KmxError(`source "${Label}" (${path}) is not a directory`, { exitCode: ExitCode.loadConfig });
    } catch (err) {
      if (err instanceof KmxError) throw err;
      const why = errnoOf(err) === 2 ? 'does not exist' : errnoOf(err) === 13 ? 'cannot be reached (permission denied)' : String(err);
      throw new KmxError(`source "${Label}" (${path}) ${why}`, { exitCode: ExitCode.loadConfig, hint: `fix its path in ${configFile}` });
    }
    if (isWithin(configReal, real)) {
      throw new KmxError(`the config ${configFile} lies inside source "${Label}" (${real})`, { exitCode: ExitCode.loadConfig, hint: 'keep the config outside the sources, e.g. in ~/.config/kmx' });
    }
    map.set(Label, real);
  }
  return map;
}

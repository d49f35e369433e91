import { KmxError, UsageError } from '../../errors/index.js';
import { ENGINE_NAMES, type EngineName, type FuseEngine } from '../engine.js';
import { FuseNativeEngine } from './fuse-native.js';
import { Libfuse3Engine } from './libfuse3/index.js';

const factories: Record<EngineName, () => FuseEngine> = {
  libfuse3: () => new Libfuse3Engine(),
  'fuse-native': () => new FuseNativeEngine(),
};

export function isEngineName(name: string): name is EngineName {
  return (ENGINE_NAMES as readonly string[]).includes(name);
}

/**
 * The engine to serve a mount: the one asked for (flag, else $KMX_FUSE_ENGINE), or the first
 * available in preference order. An engine asked for by name must be available.
 */
export function selectEngine(requested?: string): FuseEngine {
  const name = requested ?? process.env.KMX_FUSE_ENGINE;
  if (name) {
    if (!isEngineName(name)) throw new UsageError(`unknown FUSE engine "${name}"`, `choose one of: ${ENGINE_NAMES.join(', ')}`);
    const engine = factories[name]();
    const reason = engine.unavailableReason();
    if (reason) throw new KmxError(`FUSE engine ${name} is not available: ${reason}`, { hint: 'kmx doctor shows what this host supports' });
    return engine;
  }
  const reasons: string[] = [];
  for (const candidate of ENGINE_NAMES) {
    const engine = factories[candidate]();
    const reason = engine.unavailableReason();
    if (!reason) return engine;
    reasons.push(`${candidate}: ${reason}`);
  }
  throw new KmxError(`no FUSE engine is available (${reasons.join('; ')})`, { hint: 'kmx doctor shows what is missing' });
}

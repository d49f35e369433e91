// The only module that imports tsyringe: one copy of its type registry for every plugin.
// reflect-metadata must load before tsyringe, or tsyringe throws at import.
import 'reflect-metadata';
import tsyringe, { type DependencyContainer, type InjectionToken } from 'tsyringe';

export const { container, inject, injectable, Lifecycle, delay } = tsyringe;
export type { DependencyContainer, InjectionToken };

const pluginContainers = new Map<string, DependencyContainer>();

/**
 * The child container of one plugin, created once per process. Plugins register their
 * services here (never in the global container, so one plugin cannot shadow another's).
 */
export function pluginContainer(pluginName: string, register?: (child: DependencyContainer) => void): DependencyContainer {
  let child = pluginContainers.get(pluginName);
  if (!child) {
    child = container.createChildContainer();
    register?.(child);
    pluginContainers.set(pluginName, child);
  }
  return child;
}

/** Tokens of the services core registers, as global symbols so that every copy of core agrees. */
export const Tokens = {
  /** The namespace-aware mount helper (`MountHelper` from the mount module). */
  MountHelper: Symbol.for('kmx.MountHelper'),
} as const;

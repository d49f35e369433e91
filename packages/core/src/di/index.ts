// The only module that loads tsyringe: one copy of its type registry for every plugin. It loads
// on first use, not at import, because most commands resolve nothing and tsyringe with its
// reflect-metadata polyfill is a good part of a command's start-up.
import { createRequire } from 'node:module';
import type * as Tsyringe from 'tsyringe';
import type { DependencyContainer, InjectionToken } from 'tsyringe';

export type { DependencyContainer, InjectionToken };

let tsyringe: typeof Tsyringe | undefined;
/** Registrations made before the container existed, applied when it is made. */
const defaults: Array<(root: DependencyContainer) => void> = [];

function library(): typeof Tsyringe {
  if (!tsyringe) {
    // reflect-metadata must load before tsyringe, or tsyringe throws at import. In the bundle
    // (CommonJS) require exists, and esbuild bundles what it names; compiled as ESM it does not.
    if (typeof require === 'function') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
      require('reflect-metadata');
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
      tsyringe = require('tsyringe') as typeof Tsyringe;
    } else {
      const load = createRequire(import.meta.url);
      load('reflect-metadata');
      tsyringe = load('tsyringe') as typeof Tsyringe;
    }
    for (const register of defaults.splice(0)) register(tsyringe.container);
  }
  return tsyringe;
}

/** The root container (tsyringe's global one). */
export function rootContainer(): DependencyContainer {
  return library().container;
}

/** Registers in the root container when it is made, unless something else was registered under that token first. */
export function registerDefault<T>(token: InjectionToken<T>, value: T): void {
  const register = (root: DependencyContainer): void => {
    if (!root.isRegistered(token)) root.register(token, { useValue: value });
  };
  if (tsyringe) register(tsyringe.container);
  else defaults.push(register);
}

type Injectable = Parameters<ReturnType<typeof Tsyringe.injectable>>[0];

/** tsyringe's @injectable(), loading it when the class is defined. */
export function injectable(): (target: Injectable) => void {
  return (target) => library().injectable()(target);
}

/** tsyringe's @inject(token). */
export function inject(token: InjectionToken<unknown>): (target: object, key: string | symbol | undefined, index: number) => void {
  return (target, key, index) => library().inject(token)(target, key, index);
}

const pluginContainers = new Map<string, DependencyContainer>();

/**
 * The child container of one plugin, created once per process. Plugins register their
 * services here (never in the global container, so one plugin cannot shadow another's).
 */
export function pluginContainer(pluginName: string, register?: (child: DependencyContainer) => void): DependencyContainer {
  let child = pluginContainers.get(pluginName);
  if (!child) {
    child = rootContainer().createChildContainer();
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

import type { ChildProcess } from 'node:child_process';
import { registerDefault, Tokens } from '../di/index.js';
import type { MountInfo } from './mountinfo.js';
import {
  attachMount, bindInNamespace, mountInNamespace, readMountinfoOfNamespace, unmountInNamespace,
  type BindOptions, type NamespaceMountSpec, type TargetProcess,
} from './namespace.js';
import { runWithBinds, spawnWithBinds, type BindSetup, type BindSpawnOptions, type ExitStatus } from './namespace-run.js';
import { holdMountNamespace, type MountNamespaceHold } from './namespace-hold.js';
import type { HelperOptions } from './nshelper.js';

/**
 * The namespace-aware mount operations as one service, for plugins to resolve from the
 * container (`container.resolve<MountHelper>(Tokens.MountHelper)`) instead of importing the
 * functions: a test or an install with the helper elsewhere registers its own instance.
 */
export class MountHelper {
  constructor(private readonly options: HelperOptions = {}) {}

  attachMount(target: TargetProcess, mountFd: number, path: string): Promise<void> {
    return attachMount(target, mountFd, path, this.options);
  }

  mountInNamespace(target: TargetProcess, spec: NamespaceMountSpec): Promise<void> {
    return mountInNamespace(target, spec, this.options);
  }

  bindInNamespace(target: TargetProcess, source: string, path: string, bind: BindOptions = {}): Promise<void> {
    return bindInNamespace(target, source, path, bind, this.options);
  }

  unmountInNamespace(target: TargetProcess, path: string, unmount: { lazy?: boolean } = {}): Promise<void> {
    return unmountInNamespace(target, path, unmount, this.options);
  }

  readMountinfoOfNamespace(nsPath: string): Promise<MountInfo[]> {
    return readMountinfoOfNamespace(nsPath, this.options);
  }

  holdMountNamespace(nsPath: string): Promise<MountNamespaceHold> {
    return holdMountNamespace(nsPath, this.options);
  }

  spawnWithBinds(setup: BindSetup, command: string, args: readonly string[] = [], options: BindSpawnOptions = {}): ChildProcess {
    return spawnWithBinds(setup, command, args, { helperPath: this.options.helperPath, ...options });
  }

  runWithBinds(setup: BindSetup, command: string, args: readonly string[] = [], options: BindSpawnOptions = {}): Promise<ExitStatus> {
    return runWithBinds(setup, command, args, { helperPath: this.options.helperPath, ...options });
  }
}

// Stateless, so one shared instance; a registration made later (a test's) wins.
const shared = new MountHelper();
registerDefault(Tokens.MountHelper, shared);

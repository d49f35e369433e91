import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';
import { SysError } from '../errors/index.js';

export type Koffi = typeof KoffiModule;
/** A bound C function; koffi types it loosely, so it stays inside core (wrappers are typed). */
export type CFunction = ReturnType<KoffiModule.LibraryHandle['func']>;

const require = createRequire(import.meta.url);
let koffiModule: Koffi | undefined;
let libcLibrary: KoffiModule.LibraryHandle | undefined;
const functions = new Map<string, CFunction>();
const structs = new Map<string, KoffiModule.TypeObject>();

/** koffi, loaded on first use so that `kmx --help` never pays for the native module. */
export function koffi(): Koffi {
  koffiModule ??= require('koffi') as Koffi;
  return koffiModule;
}

/**
 * A libc function declared once from its C prototype and cached, e.g.
 * `cfn('int umount2(const char *target, int flags)')`. The cache key is the prototype,
 * so two differently typed aliases of one symbol (ioctl) can coexist.
 */
export function cfn(prototype: string): CFunction {
  let fn = functions.get(prototype);
  if (!fn) {
    libcLibrary ??= koffi().load('libc.so.6');
    fn = libcLibrary.func(prototype);
    functions.set(prototype, fn);
  }
  return fn;
}

/** A C struct type declared once by name (koffi refuses a second declaration of a name). */
export function cstruct(name: string, fields: Record<string, string>): KoffiModule.TypeObject {
  let type = structs.get(name);
  if (!type) {
    type = koffi().struct(name, fields);
    structs.set(name, type);
  }
  return type;
}

/**
 * Throws a SysError when a libc call failed (returned a negative number). Call it on the
 * very line of the call: koffi.errno() reads the thread's live errno, which the next
 * system call (even a successful fs.statSync) overwrites.
 */
export function check(result: number | bigint, syscall: string, path?: string): number {
  if (result < 0) throw new SysError(koffi().errno(), syscall, path);
  return Number(result);
}

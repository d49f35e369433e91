import { cfn, cstruct, koffi } from './library.js';
import { SysError } from '../errors/index.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

function passwdStruct(): void {
  cstruct('kmx_passwd', {
    pw_name: 'const char *', pw_passwd: 'const char *', pw_uid: 'uint32_t', pw_gid: 'uint32_t',
    pw_gecos: 'const char *', pw_dir: 'const char *', pw_shell: 'const char *',
  });
}

type Lookup = 'getpwuid_r' | 'getpwnam_r';

function lookup(kind: Lookup, key: number | string): PasswdEntry | undefined {
  passwdStruct();
  const keyType = kind === 'getpwuid_r' ? 'uint32_t' : 'const char *';
  const fn = cfn(`int ${kind}(${keyType} key, _Out_ kmx_passwd *pwd, uint8_t *buf, size_t buflen, _Out_ void **result)`);
  let size = 1024;
  for (let attempt = 0; attempt < 8; attempt++) {
    const buf = Buffer.alloc(size);
    const pwd: Record<string, unknown> = {};
    const result: unknown[] = [null];
    const rc = Number(fn(key, pwd, buf, size, result));
    if (rc === koffi().os.errno.ERANGE) {
      size *= 4;
      continue;
    }
    if (rc !== 0) throw new SysError(rc, kind, String(key));
    if (result[0] === null) return undefined;
    return {
      name: String(pwd.pw_name), uid: Number(pwd.pw_uid), gid: Number(pwd.pw_gid),
      home: String(pwd.pw_dir), shell: String(pwd.pw_shell),
    };
  }
  throw SysError.of('ERANGE', kind, String(key));
}

/** The passwd entry of a uid through NSS (files, LDAP, …), or undefined when there is none. */
export function userById(uid: number): PasswdEntry | undefined {
  return lookup('getpwuid_r', uid);
}

export function userByName(name: string): PasswdEntry | undefined {
  return lookup('getpwnam_r', name);
}

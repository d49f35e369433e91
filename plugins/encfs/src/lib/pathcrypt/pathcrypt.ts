import { KmxError, SysError, errnoOf } from '@kmx/core';
import { CipherTree, CorruptionLog } from '../frontend/index.js';
import { DIRIV_NAME, isValidPlainName } from '../nametransform/index.js';
import { CONFIG_NAME, ReverseResolver, type PlainTree } from '../reverse/index.js';
import type { Volume } from '../volume/index.js';

/** Translates relative paths between the plaintext and the encrypted side, for admins (what gocryptfs's control socket does). */
export interface PathCrypt {
  encrypt(plainPath: string): string;
  decrypt(cipherPath: string): string;
}

/** 'a/b/c' as components; '' and '/' are the root. */
function components(path: string, what: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new KmxError(`${what} ${path} may not contain ".."`, { exitCode: 2 });
  return parts;
}

function explain(err: unknown, path: string, side: string): never {
  if (err instanceof KmxError && !(err instanceof SysError)) throw err;
  const errno = errnoOf(err);
  if (errno === 2 || errno === 20) throw new KmxError(`${path}: a directory on the way does not exist on the ${side} side`, { hint: 'only existing directories have IVs to encrypt names under' });
  throw new KmxError(`${path}: ${err instanceof Error ? err.message : String(err)}`);
}

/** Paths of a CIPHERDIR: names are encrypted under the gocryptfs.diriv files on disk. */
export function forwardPathCrypt(cipherDir: string, volume: Volume): PathCrypt {
  const tree = new CipherTree(cipherDir, volume.names, volume.dirIv, new CorruptionLog(() => undefined));
  return {
    encrypt(plainPath) {
      const parts = components(plainPath, 'path');
      if (parts.length === 0) return '';
      for (const part of parts) if (!isValidPlainName(part)) throw new KmxError(`"${part}" is not a valid name`, { exitCode: 2 });
      try {
        return tree.cipherPath(`/${parts.join('/')}`).slice(cipherDir.length + 1);
      } catch (err) {
        return explain(err, plainPath, 'encrypted');
      }
    },
    decrypt(cipherPath) {
      let dir = cipherDir;
      const plain: string[] = [];
      for (const part of components(cipherPath, 'path')) {
        if (part === DIRIV_NAME || (dir === cipherDir && part === CONFIG_NAME) || volume.names.isLongNameSidecar(part)) {
          throw new KmxError(`${part} is a file of the filesystem itself, not an encrypted name`);
        }
        try {
          plain.push(volume.names.decryptName(tree.fullName(dir, part), tree.dirIv(dir)));
        } catch (err) {
          if (err instanceof Error && err.name === 'BadNameError') throw new KmxError(`${cipherPath}: ${err.message}`);
          return explain(err, cipherPath, 'encrypted');
        }
        dir = `${dir}/${part}`;
      }
      return plain.join('/');
    },
  };
}

/** Paths of a reverse view: IVs come from the encrypted paths, so nothing has to exist to encrypt. */
export function reversePathCrypt(tree: PlainTree, volume: Volume): PathCrypt {
  const resolver = new ReverseResolver(tree, volume.names, volume.dirIv);
  return {
    encrypt(plainPath) {
      let cDir = '';
      for (const part of components(plainPath, 'path')) {
        if (!isValidPlainName(part)) throw new KmxError(`"${part}" is not a valid name`, { exitCode: 2 });
        const name = resolver.encrypt(cDir, part).name;
        cDir = cDir === '' ? name : `${cDir}/${name}`;
      }
      return cDir;
    },
    decrypt(cipherPath) {
      const parts = components(cipherPath, 'path');
      const plain: string[] = [];
      for (let i = 1; i <= parts.length; i++) {
        let node;
        try {
          node = resolver.resolve(`/${parts.slice(0, i).join('/')}`);
        } catch (err) {
          return explain(err, cipherPath, 'plain');
        }
        if (node.kind !== 'real') throw new KmxError(`${parts[i - 1]} is a file of the view itself, not an encrypted name`);
        plain.push(node.name);
      }
      return plain.join('/');
    },
  };
}

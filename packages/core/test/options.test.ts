import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError, mountinfoSafe, parseFuseOptions, splitOptionList } from '@kmx/core';

describe('FUSE -o options', () => {
  it('parses flags and numbers, zero timeouts included', () => {
    assert.deepEqual(parseFuseOptions(['allow_other,ro', 'attr_timeout=0,entry_timeout=1.5', 'max_read=131072']), {
      allowOther: true, readOnly: true, attrTimeout: 0, entryTimeout: 1.5, maxRead: 131072,
    });
    assert.deepEqual(parseFuseOptions([]), {});
  });

  it('reads \\, as a comma inside a value and \\\\ as a backslash, as libfuse does', () => {
    assert.deepEqual(splitOptionList('Ciphers=aes128-ctr\\,aes256-ctr,ro'), ['Ciphers=aes128-ctr,aes256-ctr', 'ro']);
    assert.deepEqual(splitOptionList('a=x\\\\,b'), ['a=x\\', 'b']);
    assert.deepEqual(splitOptionList('trailing\\'), ['trailing\\']);
    const seen: Array<[string, string | undefined]> = [];
    parseFuseOptions(['ro,ProxyCommand=ssh -W %h:%p a\\,b'], (name, value) => seen.push([name, value]) > 0);
    assert.deepEqual(seen, [['ProxyCommand', 'ssh -W %h:%p a,b']]);
  });

  it('refuses unknown options, values on flags and non-numbers, as usage errors', () => {
    assert.throws(() => parseFuseOptions(['allow_other,bogus']), (e: unknown) => e instanceof UsageError && /unknown mount option "bogus"/.test(e.message) && e.exitCode === 2);
    assert.throws(() => parseFuseOptions(['allow_other,suid']), (e: unknown) => e instanceof UsageError && /mount option "suid" is not allowed; kmx mounts are always nosuid,nodev/.test(`${e.message}; ${e.hint}`));
    assert.throws(() => parseFuseOptions(['dev']), /"dev" is not allowed/);
    assert.throws(() => parseFuseOptions(['ro=1']), /takes no value/);
    assert.throws(() => parseFuseOptions(['attr_timeout=-1']), /needs a number/);
    assert.throws(() => parseFuseOptions(['max_read=0']), /whole number/);
    assert.throws(() => parseFuseOptions(['max_read=1e9']), /needs a number/);
  });

  it('takes the kernel\'s generic mount flags as fstab spells them (nosuid, nodev and rw are always so)', () => {
    assert.deepEqual(parseFuseOptions(['rw,nosuid,nodev,noexec,noatime', 'sync,noexec,dirsync']), { mountFlags: ['noexec', 'noatime', 'sync', 'dirsync'] });
    assert.deepEqual(parseFuseOptions(['rw,nosuid,nodev']), {});
  });

  it('lets a plugin take options of its own', () => {
    const seen: string[] = [];
    const options = parseFuseOptions(['reconnect,ro'], (name) => (name === 'reconnect' ? (seen.push(name), true) : false));
    assert.deepEqual(options, { readOnly: true });
    assert.deepEqual(seen, ['reconnect']);
  });

  it('keeps names that reach mountinfo free of option separators and control characters', () => {
    assert.equal(mountinfoSafe('user@host:/a,b\\c\nd e'), 'user@host:/a_b_c_d e');
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { KmxError, SysError, errnoName, errnoNumber, errnoOf, reportError, toSysError } from '@kmx/core';

describe('errors', () => {
  it('names errnos both ways', () => {
    assert.equal(errnoName(2), 'ENOENT');
    assert.equal(errnoName(11), 'EAGAIN');
    assert.equal(errnoNumber('ENOTCONN'), 107);
    assert.equal(errnoName(9999), 'E9999');
  });

  it('SysError carries errno name, number, syscall and path in one line', () => {
    const e = SysError.of('EACCES', 'open', '/x');
    assert.equal(e.code, 'EACCES');
    assert.equal(e.errno, 13);
    assert.equal(e.syscall, 'open');
    assert.equal(e.path, '/x');
    assert.match(e.message, /^open \/x: .*\(EACCES\)$/);
    assert.ok(e instanceof KmxError);
  });

  it('turns Node fs errors into SysErrors and finds the errno of anything', () => {
    let nodeError: unknown;
    try {
      readFileSync('/nonexistent/kmx');
    } catch (err) {
      nodeError = err;
    }
    const converted = toSysError(nodeError);
    assert.ok(converted instanceof SysError);
    assert.equal(converted.code, 'ENOENT');
    assert.equal(converted.path, '/nonexistent/kmx');
    assert.equal(errnoOf(nodeError), 2);
    assert.equal(errnoOf(new Error('plain')), undefined);
    assert.equal(errnoOf({ code: 'EIO' }), 5);
  });

  it('reports every failure as one line with its hint and exit code', () => {
    assert.deepEqual(reportError(new KmxError('bad thing', { hint: 'do this', exitCode: 3 })).line, 'kmx: bad thing; do this');
    assert.equal(reportError(new KmxError('bad thing', { exitCode: 3 })).exitCode, 3);
    const parse = Object.assign(new Error('Missing 1 required arg:\nmountpoint  where\nSee more help with --help'), { oclif: { exit: 2 } });
    const r = reportError(parse, 'passthrough');
    assert.equal(r.line, 'kmx: Missing 1 required arg: mountpoint; see: kmx passthrough --help');
    assert.equal(r.exitCode, 2);
    assert.match(reportError(new TypeError('x is undefined')).line, /^kmx: x is undefined; this is a bug in kmx/);
  });
});

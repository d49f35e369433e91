import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandShortFlags, respell } from '../src/cli/peer-spellings.js';

describe('peer spellings', () => {
  const gocryptfs = { '-passfile': '--passfile', '-reverse': '--reverse', '-nosyslog': null };

  it('rewrites a peer\'s flag, with its value beside it or after =', () => {
    assert.deepEqual(respell(['mount', '-passfile', 'p', '-reverse', 'a', 'b'], gocryptfs), ['mount', '--passfile', 'p', '--reverse', 'a', 'b']);
    assert.deepEqual(respell(['-passfile=p'], gocryptfs), ['--passfile=p']);
  });

  it('drops only what is listed as meaning nothing to kmx', () => {
    assert.deepEqual(respell(['-nosyslog', '-unknown', 'x'], gocryptfs), ['-unknown', 'x']);
  });

  it('leaves arguments, kmx\'s own spelling and everything after -- alone', () => {
    assert.deepEqual(respell(['--passfile', '-passfile', '--', '-passfile', '-nosyslog'], gocryptfs), ['--passfile', '--passfile', '--', '-passfile', '-nosyslog']);
    assert.deepEqual(respell(['passfile', 'a=-passfile'], gocryptfs), ['passfile', 'a=-passfile']);
    assert.deepEqual(respell(['-passfile'], undefined), ['-passfile']);
  });

  it('splits getopt-style bundles of a peer\'s letters, values included, and leaves the rest to oclif', () => {
    const lsns = { booleans: 'JlnruW', withValue: 'opt' };
    assert.deepEqual(expandShortFlags(['-rn', '-Jp1', '-tnet'], lsns), ['-r', '-n', '-J', '-p', '1', '-t', 'net']);
    assert.deepEqual(expandShortFlags(['-o', '-rn', '-n'], lsns), ['-o', '-rn', '-n'], 'a value that looks like flags stays a value');
    assert.deepEqual(expandShortFlags(['-rx', '--raw', '-r', '--', '-rn'], lsns), ['-rx', '--raw', '-r', '--', '-rn']);
  });
});

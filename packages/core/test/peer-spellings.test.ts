import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { respell } from '../src/cli/peer-spellings.js';

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
});

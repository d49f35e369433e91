import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { placeHosts } from '../src/lib/cluster/srv.js';
import type { PeerSpec } from '../src/lib/cluster/peers.js';

const host = (name: string, n = 1): PeerSpec => ({ name, address: `10.0.0.${n}:7447` });
const names = (list: readonly PeerSpec[]): string => list.map((p) => p.name).join(' ');

describe('kmx procsys --srv: hosts keep their slots as DNS changes', () => {
  it('the first list is this host, then the others in the given (sorted) order', () => {
    assert.equal(names(placeHosts([], [host('a'), host('b')], 'me')), 'me a b');
  });

  it('this host listed by DNS keeps the place DNS gives it', () => {
    assert.equal(names(placeHosts([], [host('a'), host('me'), host('b')], 'me')), 'a me b');
  });

  it('a new host goes at the end; the others stay', () => {
    assert.equal(names(placeHosts([{ name: 'me' }, host('b'), host('d')], [host('b'), host('c'), host('d')], 'me')), 'me b d c');
  });

  it('a new host takes the place of one that left', () => {
    assert.equal(names(placeHosts([{ name: 'me' }, host('a'), host('b'), host('c')], [host('b'), host('c'), host('d')], 'me')), 'me d b c');
  });

  it('a place left empty is filled from the end, so one host moves, not all after it', () => {
    assert.equal(names(placeHosts([{ name: 'me' }, host('a'), host('b'), host('c'), host('d')], [host('b'), host('c'), host('d')], 'me')), 'me d b c');
    assert.equal(names(placeHosts([{ name: 'me' }, host('a'), host('b'), host('c')], [host('c')], 'me')), 'me c');
    assert.equal(names(placeHosts([{ name: 'me' }, host('a'), host('b'), host('c')], [host('a')], 'me')), 'me a');
  });

  it('no records: only this host stays', () => {
    assert.equal(names(placeHosts([{ name: 'me' }, host('a'), host('b')], [], 'me')), 'me');
  });

  it('a host that moved keeps its place with its new address', () => {
    const next = placeHosts([{ name: 'me' }, host('a', 1), host('b', 2)], [host('a', 9), host('b', 2)], 'me');
    assert.deepEqual(next, [{ name: 'me' }, host('a', 9), host('b', 2)]);
  });
});

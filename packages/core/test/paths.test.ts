import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renamedPath } from '../src/fuse/paths.js';

describe('renamedPath', () => {
  it('moves the renamed path and what lies below it, nothing else', () => {
    assert.equal(renamedPath('/d', '/d', '/e'), '/e');
    assert.equal(renamedPath('/d/f', '/d', '/e/x'), '/e/x/f');
    assert.equal(renamedPath('/d/g/h', '/d', '/e'), '/e/g/h');
    assert.equal(renamedPath('/dd/f', '/d', '/e'), '/dd/f', 'a name that only starts the same');
    assert.equal(renamedPath('/c', '/d', '/e'), '/c');
  });
});

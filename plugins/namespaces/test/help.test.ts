import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runKmx } from '@kmx/core/testing';

describe('kmx ns help', () => {
  it('lists the four commands and their examples', async () => {
    const r = await runKmx(['ns', '--help'], { env: { ...process.env, COLUMNS: '200' } });
    assert.equal(r.code, 0, r.stderr);
    for (const command of ['graph', 'list', 'show', 'tree']) assert.match(r.stdout, new RegExp(`^  ns ${command} +\\S`, 'm'), command);
    assert.match(r.stdout, /^EXAMPLES$/m);
    assert.match(r.stdout, /\$ kmx ns tree --type pid$/m);
    assert.doesNotMatch(r.stdout, /No commands yet/);
  });

  it('documents the routes in kmx ns list --help', async () => {
    const r = await runKmx(['ns', 'list', '--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const route of ['proc', 'task', 'fd', 'bind-mount', 'hierarchy', 'ownership']) assert.match(r.stdout, new RegExp(`^ {2}${route} {2,}\\S`, 'm'), route);
  });
});

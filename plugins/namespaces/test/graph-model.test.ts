import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { runKmx } from '@kmx/core/testing';
import { KmxError } from '@kmx/core';
import { graphSvg, namespaceGraphModel, type GraphNamespaceNode, type NamespaceGraphModel } from '../src/index.js';
import type { ShowJson } from '../src/lib/render/show.js';
import { NamespaceLab, comm, inodeOf, nsLink } from './lab.js';

/**
 * namespaceGraphModel, what kmx ui loads: the same discovery as kmx ns, each namespace with
 * what kmx ns show --json says of it. Asserts only on the namespaces it made.
 */
describe('the namespace graph model', () => {
  const lab = new NamespaceLab();
  let ours: { pid: number; user: number; net: number; uts: number };

  before(async () => {
    const ourUser = nsLink('self', 'user');
    const pid = await lab.start('unshare', ['--user', '--map-root-user', '--net', '--uts', 'sleep', '600'], (p) => comm(p) === 'sleep' && nsLink(p, 'user') !== ourUser);
    ours = { pid, user: inodeOf(pid, 'user'), net: inodeOf(pid, 'net'), uts: inodeOf(pid, 'uts') };
  });
  after(() => lab.cleanUp());

  const namespace = (model: NamespaceGraphModel, inode: number): GraphNamespaceNode | undefined =>
    model.nodes.find((n): n is GraphNamespaceNode => n.kind === 'namespace' && n.inode === inode);

  it('carries each namespace with what kmx ns show --json gives, and its edges, as plain JSON', async () => {
    const model = await namespaceGraphModel({ processes: true });
    assert.deepEqual(JSON.parse(JSON.stringify(model)), model, 'JSON-serialisable as it is');
    const net = namespace(model, ours.net);
    assert.ok(net, 'our net namespace is in the model');
    assert.equal(net.id, `ns${ours.net}`);
    assert.equal(net.label, `net:[${ours.net}]`);
    assert.equal(net.type, 'net');
    const shown = JSON.parse((await runKmx(['ns', 'show', '--json', `/proc/${ours.pid}/ns/net`])).stdout) as ShowJson;
    const { ancestors, owns, ...details } = net.details;
    assert.deepEqual(details, shown.namespaces[0]?.namespace);
    assert.deepEqual(ancestors, shown.namespaces[0]?.ancestors);
    assert.deepEqual(owns, []);
    assert.deepEqual(namespace(model, ours.user)?.details.owns.sort(), [ours.net, ours.uts].sort(), 'a user namespace lists what it owns');
    const edges = model.edges.map((e) => `${e.kind} ${e.from} ${e.to}`);
    assert.ok(edges.includes(`owner ns${ours.net} ns${ours.user}`));
    assert.ok(edges.includes(`process p${ours.pid} ns${ours.net}`));
    assert.ok(edges.some((e) => e.startsWith(`parent ns${ours.user} `)), 'the user namespace has its parent');
    assert.ok(model.nodes.some((n) => n.kind === 'process' && n.pid === ours.pid && n.userNamespace === ours.user));
    assert.equal(typeof model.inaccessible.count, 'number');
  });

  it('keeps to the types asked for and the namespaces that connect them; an unknown type is a one-line error', async () => {
    const model = await namespaceGraphModel({ types: ['uts'] });
    assert.ok(namespace(model, ours.uts) && namespace(model, ours.user));
    assert.equal(namespace(model, ours.net), undefined);
    assert.ok(model.nodes.every((n) => n.type === 'uts' || n.type === 'user'));
    await assert.rejects(namespaceGraphModel({ types: ['uts', 'bogus'] }), (err: unknown) =>
      err instanceof KmxError && err.message === 'unknown namespace type "bogus"' && !err.message.includes('\n'));
  });

  it('draws the static SVG from it: a frame for our user namespace, its net and uts', async () => {
    const svg = graphSvg(await namespaceGraphModel());
    const frame = svg.indexOf(`<g class="nsg-card" data-card-id="ns${ours.user}">`);
    assert.ok(frame > 0);
    for (const inode of [ours.net, ours.uts]) assert.match(svg, new RegExp(`<g class="nsg-node" data-node-id="ns${inode}" data-type="(net|uts)" transform="translate\\(`));
  });

  it('writes DOT that Graphviz draws, our user namespace a cluster with what it owns', async () => {
    const r = await runKmx(['ns', 'graph']);
    assert.equal(r.code, 0, r.stderr);
    const cluster = new RegExp(`subgraph cluster_ns${ours.user} \\{[^}]*ns${ours.user} \\[[^}]*ns${ours.net} \\[[^}]*\\}`);
    assert.match(r.stdout, cluster);
    assert.match(r.stdout, new RegExp(`ns${ours.net} -> ns${ours.user} \\[style=dashed`));
    const drawn = spawnSync('dot', ['-Tsvg'], { input: r.stdout, encoding: 'utf8', maxBuffer: 1 << 26 });
    assert.equal(drawn.status, 0, drawn.stderr);
    assert.match(drawn.stdout, /<svg /);
  });
});

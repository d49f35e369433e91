import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKmx } from '@kmx/core/testing';
import { INITIAL_PID_NS_INODE, INITIAL_USER_NS_INODE } from '../src/index.js';
import type { GraphJson } from '../src/commands/ns/graph.js';
import type { TreeJson } from '../src/commands/ns/tree.js';
import type { TreeNodeJson } from '../src/lib/render/tree.js';
import type { ShowJson } from '../src/lib/render/show.js';
import { NamespaceLab } from './lab.js';
import { buildWorld, type World } from './world.js';

/** kmx ns tree / show / graph on real hierarchies: the text a user reads and the JSON a script reads. */

async function kmx(...args: string[]): Promise<string> {
  const r = await runKmx(args);
  assert.equal(r.code, 0, `kmx ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The line that starts (after the tree drawing) with `label `, and its index. */
function lineOf(lines: readonly string[], label: string): { index: number; line: string; depth: number } {
  const index = lines.findIndex((l) => l.replace(/^[│├└─ ]*/, '').startsWith(`${label} `));
  assert.ok(index >= 0, `no line for ${label} in:\n${lines.join('\n')}`);
  const line = lines[index]!;
  return { index, line, depth: (line.length - line.replace(/^[│├└─ ]*/, '').length) / 4 };
}

function findNode(nodes: readonly TreeNodeJson[], inode: number): TreeNodeJson | undefined {
  for (const node of nodes) {
    const hit = node.namespace.ns === inode ? node : findNode(node.children, inode);
    if (hit) return hit;
  }
  return undefined;
}

describe('kmx ns tree, show and graph', () => {
  const lab = new NamespaceLab();
  let world: World;
  before(async () => {
    world = await buildWorld(lab);
  });
  after(() => lab.cleanUp());

  it('draws the user namespace tree as lsuserns does, hidden intermediates included', async () => {
    const lines = (await kmx('ns', 'tree')).trimEnd().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^user:\\[${INITIAL_USER_NS_INODE}\\] process "\\S+" \\(\\d+, \\d+ procs\\) owner root \\(0\\)$`));
    const middle = lineOf(lines, `user:[${world.nested.middle}]`);
    assert.match(middle.line, /^[├└]── user:\[\d+\] no process \(hidden, intermediate\) owner root \(0\)$/);
    const inner = lineOf(lines, `user:[${world.nested.inner}]`);
    assert.equal(inner.index, middle.index + 1, 'the inner namespace comes right under its parent');
    assert.equal(inner.depth, middle.depth + 1);
    assert.match(inner.line, new RegExp(`└── user:\\[${world.nested.inner}\\] process "sleep" \\(${world.nested.pid}, 1 proc\\) owner root \\(0\\)$`));
    assert.match(lineOf(lines, `user:[${world.nobody.user}]`).line, / owner nobody \(65534\)$/);
  });

  it('draws the PID namespace tree as lspidns does, naming each owner', async () => {
    const lines = (await kmx('ns', 'tree', '--type', 'pid')).trimEnd().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^pid:\\[${INITIAL_PID_NS_INODE}\\] .* owner user:\\[${INITIAL_USER_NS_INODE}\\] root \\(0\\)$`));
    const outer = lineOf(lines, `pid:[${world.pids.outer}]`);
    const inner = lineOf(lines, `pid:[${world.pids.inner}]`);
    assert.equal(inner.index, outer.index + 1);
    assert.equal(inner.depth, outer.depth + 1);
    assert.match(inner.line, new RegExp(`└── pid:\\[${world.pids.inner}\\] process "sleep" \\(${world.pids.sleepPid}, 1 proc\\) owner user:\\[${INITIAL_USER_NS_INODE}\\] root \\(0\\)$`));
    assert.match(lineOf(lines, `pid:[${world.owned.pid}]`).line, new RegExp(` owner user:\\[${world.owned.user}\\] root \\(0\\)$`));
  });

  it('hangs other types under their owning user namespaces, in text and JSON', async () => {
    const lines = (await kmx('ns', 'tree', '--type', 'net')).trimEnd().split('\n');
    const user = lineOf(lines, `user:[${world.owned.user}]`);
    const net = lineOf(lines, `net:[${world.owned.net}]`);
    assert.ok(net.index > user.index && net.depth === user.depth + 1, lines.join('\n'));
    assert.match(lineOf(lines, `net:[${world.bound.net}]`).line, new RegExp(`no process, held by bind mount ${world.bound.netFile}\\b.* owner user:\\[${INITIAL_USER_NS_INODE}\\]`));
    assert.match(lineOf(lines, `net:[${world.fdHeld.net}]`).line, new RegExp(`no process, held by fd 3 of "sleep" \\(${world.fdHeld.holderPid}\\)`));

    const tree = JSON.parse(await kmx('ns', 'tree', '--type', 'net', '--json')) as TreeJson;
    assert.equal(tree.type, 'net');
    const owner = findNode(tree.roots, world.owned.user);
    assert.deepEqual(owner?.children.map((c) => c.namespace.ns), [world.owned.net]);
    assert.equal(findNode(tree.roots, world.bound.innerNet)?.namespace.bindMounts[0]?.mountNamespace, world.bound.mnt);
  });

  it('shows one namespace by path, with its ancestors, children and holders', async () => {
    const text = await kmx('ns', 'show', `/proc/${world.nested.pid}/ns/user`);
    assert.match(text, new RegExp(`^user:\\[${world.nested.inner}\\] process "sleep"`));
    assert.match(text, new RegExp(`^  parent +user:\\[${world.nested.middle}\\]$`, 'm'));
    assert.match(text, new RegExp(`^  ancestors +user:\\[${world.nested.middle}\\], user:\\[${INITIAL_USER_NS_INODE}\\]$`, 'm'));
    const bound = await kmx('ns', 'show', world.bound.netFile);
    // Mount namespaces copied from ours meanwhile (other tests' unshare -m) add more bind mounts.
    assert.match(bound, new RegExp(`^ {2}held by +bind mount ${world.bound.netFile}(;|$)`, 'm'));
    assert.match(bound, /^ {2}parent +- \(only user and PID namespaces have parents\)$/m);

    const json = JSON.parse(await kmx('ns', 'show', '--json', `/proc/${world.nested.pid}/ns/user`)) as ShowJson;
    assert.deepEqual(json.target, { path: `/proc/${world.nested.pid}/ns/user` });
    assert.deepEqual(json.namespaces[0]?.ancestors, [world.nested.middle, INITIAL_USER_NS_INODE]);
    const middle = JSON.parse(await kmx('ns', 'show', '--json', `/proc/${world.owned.sleepPid}/ns/user`)) as ShowJson;
    assert.deepEqual(middle.namespaces[0]?.namespace.children, []);
  });

  it('shows every namespace of a process, by pid', async () => {
    const pid = world.owned.sleepPid;
    const text = await kmx('ns', 'show', String(pid));
    assert.match(text, new RegExp(`^process ${pid} "sleep"`));
    assert.match(text, new RegExp(`^pid +pid:\\[${world.owned.pid}\\] +pid:\\[${INITIAL_PID_NS_INODE}\\] +user:\\[${world.owned.user}\\] +root \\(0\\) +1 +proc$`, 'm'));
    const json = JSON.parse(await kmx('ns', 'show', '--json', String(pid))) as ShowJson;
    assert.deepEqual(json.target, { pid });
    assert.deepEqual(json.namespaces.map((n) => n.link), ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts']);
    assert.equal(json.namespaces.find((n) => n.link === 'net')?.namespace.ns, world.owned.net);
    const pending = JSON.parse(await kmx('ns', 'show', '--json', String(world.pending.pid))) as ShowJson;
    assert.equal(pending.namespaces.find((n) => n.link === 'time_for_children')?.namespace.ns, world.pending.timeForChildren);
  });

  it('graphs parents and owners as DOT, JSON and SVG', async () => {
    const dot = await kmx('ns', 'graph');
    assert.match(dot, /^digraph namespaces \{/);
    assert.match(dot, new RegExp(`ns${world.nested.inner} -> ns${world.nested.middle} \\[label="parent"\\]`));
    assert.match(dot, new RegExp(`ns${world.owned.net} -> ns${world.owned.user} \\[style=dashed`));
    const graph = JSON.parse(await kmx('ns', 'graph', '--json', '--type', 'net', '--processes')) as GraphJson;
    assert.ok(graph.edges.some((e) => e.from === `ns${world.owned.net}` && e.to === `ns${world.owned.user}` && e.kind === 'owner'));
    assert.ok(graph.edges.some((e) => e.from === `p${world.owned.unsharePid}` && e.to === `ns${world.owned.net}` && e.kind === 'member'));
    assert.ok(graph.nodes.every((n) => n.kind === 'process' || n.type === 'net' || n.type === 'user'), 'only net and the user namespaces owning them');
    const svg = join(lab.dir, 'ns.svg');
    const out = await kmx('ns', 'graph', '--format', 'svg', '-o', svg);
    assert.equal(out, '');
    const drawn = readFileSync(svg, 'utf8');
    assert.match(drawn, /<svg /);
    assert.match(drawn, new RegExp(`user:\\[${world.nested.middle}\\]`));
    // Readable: user namespaces as a tree of frames (not one long row), each holding what it owns; a legend.
    const [width, height] = (/<svg [^>]*width="(\d+)" height="(\d+)"/.exec(drawn) ?? []).slice(1).map(Number);
    assert.ok(width !== undefined && height !== undefined && width <= 2600 && width < height * 4, `${width} x ${height}`);
    assert.match(drawn, /<g class="nsg-legend">/);
    assert.match(drawn, new RegExp(`<g class="nsg-card" data-card-id="ns${world.owned.user}">`));
  });
});

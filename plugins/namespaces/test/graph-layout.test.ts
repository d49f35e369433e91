import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { graphSvg, layoutGraph, syntheticGraphModel, type GraphLayout } from '../src/index.js';
import type { Box } from '../src/lib/graph-view/layout.js';

/** The layout both pictures share, on made-up machines: nothing drawn on top of anything, and not one long row. */

const overlap = (a: Box, b: Box): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const inside = (inner: Box, outer: Box): boolean =>
  inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height;

function check(layout: GraphLayout, what: string): void {
  const cards = new Map(layout.cards.map((c) => [c.id, c]));
  for (const p of layout.nodes) {
    const card = cards.get(p.cardId);
    assert.ok(card && inside(p, card), `${what}: ${p.node.id} inside its frame ${p.cardId}`);
    assert.ok(inside(p, { x: 0, y: 0, width: layout.width, height: layout.height }), `${what}: ${p.node.id} inside the picture`);
  }
  const sorted = [...layout.nodes].sort((a, b) => a.x - b.x);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length && sorted[j]!.x < sorted[i]!.x + sorted[i]!.width; j++) {
      assert.ok(!overlap(sorted[i]!, sorted[j]!), `${what}: ${sorted[i]!.node.id} and ${sorted[j]!.node.id} overlap`);
    }
  }
  for (const a of layout.cards) {
    assert.ok(!overlap(a, layout.legend), `${what}: frame ${a.id} under the legend`);
    for (const b of layout.cards) if (a !== b) assert.ok(!overlap(a, b), `${what}: frames ${a.id} and ${b.id} overlap`);
  }
}

describe('the namespace graph layout', () => {
  it('places every node in its frame, nothing over anything, in rows that wrap', () => {
    for (const size of [10, 30, 100, 300, 1000]) {
      const model = syntheticGraphModel(size, { processes: true });
      const layout = layoutGraph(model);
      check(layout, `${size} namespaces`);
      assert.equal(layout.nodes.length, model.nodes.length, `${size}: every node drawn`);
      assert.ok(layout.width <= 2600, `${size}: ${layout.width} px wide`);
    }
  });

  it('collapsed frames and filtered types leave out what they hide, and the rest in place', () => {
    const model = syntheticGraphModel(100);
    const full = layoutGraph(model);
    const root = full.cards.find((c) => c.depth === 0 && c.header)!;
    const child = full.cards.find((c) => c.parentId === root.id && c.below > 0)!;
    const collapsed = layoutGraph(model, { hiddenTypes: new Set(), collapsed: new Set([child.id]) });
    check(collapsed, 'collapsed');
    assert.equal(collapsed.nodes.length, full.nodes.length - child.below);
    assert.equal(collapsed.cards.find((c) => c.id === child.id)?.collapsed, true);
    const noNet = layoutGraph(model, { hiddenTypes: new Set(['net']), collapsed: new Set() });
    check(noNet, 'without net');
    assert.ok(noNet.nodes.every((p) => p.node.type !== 'net'));
    assert.equal(noNet.nodes.length, model.nodes.filter((n) => n.type !== 'net').length);
  });

  it('is the same for the same model (a refresh moves nothing that did not change)', () => {
    const model = syntheticGraphModel(120);
    assert.equal(graphSvg(model), graphSvg(structuredClone(model)));
  });

  it('writes a process that names itself with control characters and markup as text XML can hold', () => {
    const model = syntheticGraphModel(10, { processes: true });
    const process = model.nodes.find((n) => n.kind === 'process')!;
    assert.equal(process.kind, 'process');
    if (process.kind === 'process') process.label = `${process.pid} a\u0001b<c>&"d"\u007f`;
    const svg = graphSvg(model);
    // eslint-disable-next-line no-control-regex -- no control character may reach the file
    assert.doesNotMatch(svg, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/);
    assert.ok(svg.includes('a\\x01b&lt;c&gt;&amp;&quot;d&quot;\\x7f'), 'escaped as lsns does, then as XML');
  });
});

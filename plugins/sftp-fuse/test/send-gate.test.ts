// The bound on written data in flight to the server (src/lib/filesystem/send-gate.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SendGate } from '../src/lib/filesystem/send-gate.js';

/** A send that finishes when the test says so, recording when it started. */
function controlledSend(log: string[], name: string): { send: () => Promise<void>; finish: (err?: Error) => void } {
  let finish: (err?: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = (err) => (err ? reject(err) : resolve());
  });
  return { send: () => { log.push(name); return done; }, finish: (err) => finish(err) };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SendGate', () => {
  it('starts nothing before the caller has returned, then sends in order within the limit', async () => {
    const log: string[] = [];
    const gate = new SendGate(3);
    const sends = ['a', 'b', 'c', 'd'].map((name) => controlledSend(log, name));
    const results = sends.map((s) => gate.send(1, s.send));
    assert.deepEqual(log, [], 'nothing is sent synchronously');
    await settle();
    assert.deepEqual(log, ['a', 'b', 'c'], 'three of one byte fit a limit of three');
    sends[1]?.finish();
    await settle();
    assert.deepEqual(log, ['a', 'b', 'c', 'd'], 'an answer lets the next one go');
    for (const s of sends) s.finish();
    await Promise.all(results);
  });

  it('lets a send larger than the limit go alone, and keeps order behind it', async () => {
    const log: string[] = [];
    const gate = new SendGate(4);
    const big = controlledSend(log, 'big');
    const small = controlledSend(log, 'small');
    const results = [gate.send(10, big.send), gate.send(1, small.send)];
    await settle();
    assert.deepEqual(log, ['big']);
    big.finish();
    await settle();
    assert.deepEqual(log, ['big', 'small']);
    small.finish();
    await Promise.all(results);
  });

  it('hands each send its own outcome and frees its room when it fails', async () => {
    const log: string[] = [];
    const gate = new SendGate(1);
    const failing = controlledSend(log, 'failing');
    const next = controlledSend(log, 'next');
    const first = gate.send(1, failing.send);
    const second = gate.send(1, next.send);
    await settle();
    failing.finish(new Error('EIO'));
    await assert.rejects(first, /EIO/);
    await settle();
    assert.deepEqual(log, ['failing', 'next']);
    next.finish();
    await second;
    await assert.rejects(gate.send(1, () => { throw new Error('thrown at once'); }), /thrown at once/);
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PID_SPACE, decodePid, encodePid, parsePidName, rewriteStat, rewriteStatus } from '../src/lib/merge/pid-space.js';
import { MERGED_FILES, interfaceName, type HostText } from '../src/lib/merge/rules.js';

// The rules applied to this host's own /proc text, as if two hosts had sent it.
const proc = (file: string): string => readFileSync(`/proc/${file}`, 'latin1');
const twoHosts = (text: string): HostText[] => [
  { name: 'here', slot: 0, local: true, text },
  { name: 'h2', slot: 1, local: false, text },
];
const merge = (file: string, parts: HostText[], bootTime = 1000): string => MERGED_FILES.get(file)!(parts, { bootTime });

describe('merge rules', () => {
  it('meminfo adds every field up, in the first host\'s order and format', () => {
    const text = proc('meminfo');
    const merged = merge('/meminfo', twoHosts(text));
    const lines = text.trim().split('\n');
    const out = merged.trim().split('\n');
    assert.equal(out.length, lines.length);
    lines.forEach((line, i) => {
      const [, key, value] = /^([^:]+):\s*(\d+)/.exec(line)!;
      const expected = key === 'Hugepagesize' ? Number(value) : 2 * Number(value);
      const label = key!.replace(/[()]/g, '\\$&');
      assert.match(out[i]!, new RegExp(`^${label}:\\s+${expected}( kB)?$`));
      // The kernel's layout: the label padded to 16 columns, the number right-aligned in 8.
      assert.equal(out[i]!.indexOf(String(expected)) + String(expected).length, Math.max(24, 16 + String(expected).length));
    });
  });

  it('stat adds the cpu line and counters up, numbers every host\'s cpus in turn, keeps the earliest btime', () => {
    const text = proc('stat');
    const cpus = text.split('\n').filter((l) => /^cpu\d+ /.test(l)).length;
    const merged = merge('/stat', twoHosts(text), 12345);
    assert.deepEqual(merged.split('\n').filter((l) => /^cpu\d+ /.test(l)).map((l) => l.split(' ')[0]), [...Array(2 * cpus).keys()].map((i) => `cpu${i}`));
    const sum = (t: string, key: string): number[] => t.split('\n').find((l) => l.startsWith(`${key} `))!.replace(/^\S+\s+/, '').split(' ').map(Number);
    assert.deepEqual(sum(merged, 'cpu'), sum(text, 'cpu').map((v) => 2 * v));
    assert.deepEqual(sum(merged, 'ctxt'), sum(text, 'ctxt').map((v) => 2 * v));
    assert.deepEqual(sum(merged, 'intr').slice(0, 3), sum(text, 'intr').slice(0, 3).map((v) => 2 * v));
    assert.match(merged, /^btime 12345$/m);
  });

  it('loadavg and uptime: loads and threads added, the highest merged last pid, the longest uptime, idle added', () => {
    assert.equal(merge('/loadavg', [
      { name: 'a', slot: 0, local: true, text: '0.50 0.25 0.10 2/300 4000\n' },
      { name: 'b', slot: 2, local: false, text: '1.00 0.75 0.05 1/100 17\n' },
    ]), `1.50 1.00 0.15 3/400 ${2 * PID_SPACE + 17}\n`);
    assert.equal(merge('/uptime', [
      { name: 'a', slot: 0, local: true, text: '100.50 150.00\n' },
      { name: 'b', slot: 1, local: false, text: '2000.25 10.00\n' },
    ]), '2000.25 160.00\n');
  });

  it('cpuinfo, net/dev, route, arp and sockets: concatenated, remote interfaces renamed, rows renumbered', () => {
    const cpuinfo = merge('/cpuinfo', twoHosts(proc('cpuinfo')));
    const count = proc('cpuinfo').split('\n').filter((l) => l.startsWith('processor')).length;
    assert.deepEqual([...cpuinfo.matchAll(/^processor\s*: (\d+)$/gm)].map((m) => Number(m[1])), [...Array(2 * count).keys()]);
    const dev = merge('/net/dev', twoHosts(proc('net/dev')));
    const names = (t: string): string[] => t.split('\n').slice(2).filter((l) => l.includes(':')).map((l) => l.split(':')[0]!.trim());
    assert.deepEqual(names(dev), [...names(proc('net/dev')), ...names(proc('net/dev')).map((n) => `${n}@h2`)]);
    assert.equal(dev.split('\n').slice(0, 2).join('\n'), proc('net/dev').split('\n').slice(0, 2).join('\n'));
    assert.equal(interfaceName('enp0s31f6', { name: 'database', slot: 1, local: false, text: '' }), 'enp0s31f6@datab');
    const route = merge('/net/route', twoHosts(proc('net/route')));
    assert.equal(route.split('\n').filter(Boolean).length, 1 + 2 * (proc('net/route').split('\n').filter(Boolean).length - 1));
    const tcp = merge('/net/tcp', twoHosts(proc('net/tcp')));
    const rows = tcp.split('\n').slice(1).filter(Boolean);
    assert.deepEqual(rows.map((r) => Number(r.trim().split(':')[0])), [...rows.keys()]);
    assert.ok(rows.every((r) => /^\s{0,3}\d+: /.test(r)));
  });

  it('pids: slot k owns k·2^22 + pid; stat and status are rewritten, tick counts moved to the merged boot', () => {
    assert.equal(encodePid(3, 42), 3 * PID_SPACE + 42);
    assert.deepEqual(decodePid(3 * PID_SPACE + 42), { slot: 3, pid: 42 });
    assert.equal(encodePid(5, 0), 0);
    assert.equal(parsePidName('0012'), undefined);
    assert.equal(parsePidName(String(512 * PID_SPACE)), undefined);
    const stat = proc('self/stat');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).trim().split(' ');
    const tricky = stat.replace(/\(.*\)/, '(a) (b c)');
    const rewritten = rewriteStat(tricky, 2, 500);
    const base = 2 * PID_SPACE;
    const out = rewritten.slice(rewritten.lastIndexOf(')') + 2).trim().split(' ');
    assert.ok(rewritten.startsWith(`${base + process.pid} (a) (b c) `));
    assert.equal(out[1], String(base + Number(fields[1])));
    assert.equal(out[19], String(Number(fields[19]) + 500));
    assert.equal(out.length, fields.length);
    const status = rewriteStatus(proc('self/status'), 1);
    assert.match(status, new RegExp(`^Pid:\\t${PID_SPACE + process.pid}$`, 'm'));
    assert.match(status, new RegExp(`^Tgid:\\t${PID_SPACE + process.pid}$`, 'm'));
    assert.match(status, /^TracerPid:\t0$/m);
  });
});

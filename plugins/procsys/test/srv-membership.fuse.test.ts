import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { assertOneLineError, runKmx, temporaryDirectory, withTestMount } from '@kmx/core/testing';
import { PID_SPACE } from '../src/lib/merge/pid-space.js';
import { withTestDns, type SrvTarget } from './helpers/dnsmasq.js';
import { withTestNet, type TestHost } from './helpers/hosts.js';
import { eventually, pidNames, readStatus } from './helpers/proc-text.js';

const SERVICE = '_kmx-procsys._tcp.kmx.test';
const PERIOD_S = 1;
/** Hosts join and leave within one period, plus a lookup and a connection. */
const WITHIN_MS = PERIOD_S * 1000 + 4000;

const target = (h: TestHost): SrvTarget => ({ label: h.name, ip: h.ip, port: Number(h.address.split(':').pop()) });
const statusRows = async (mnt: string): Promise<string[]> => [...(await readStatus(join(mnt, 'status'))).entries()].map(([name, s]) => `${name} ${s.slot} ${s.state}`);

describe('kmx procsys: membership from DNS SRV records (dnsmasq on loopback)', () => {
  it('hosts the records list join, hosts they drop leave, and a DNS outage changes nothing', () => withTestDns(SERVICE, async (dns) => {
    await withTestNet(['a', 'b', 'c'], async (net) => {
      const [a, b, c] = net.hosts as [TestHost, TestHost, TestHost];
      await Promise.all(net.hosts.map((h) => net.start(h, ['procsys', 'serve', '--insecure', '--listen', h.address, '--name', h.name])));
      await dns.serve([b, a].map(target));
      const args = ['procsys', 'mount', '--insecure', '--name', 'me', '--srv', SERVICE, '--dns-server', dns.server, '--srv-period', String(PERIOD_S)];
      await withTestMount({ args: ({ mnt }) => [...args, mnt] }, async ({ mnt }) => {
        assert.deepEqual(await statusRows(mnt), ['me 0 local', 'a 1 up', 'b 2 up'], 'sorted by name at start');

        await dns.serve([a, b, c].map(target));
        await eventually(async () => assert.deepEqual(await statusRows(mnt), ['me 0 local', 'a 1 up', 'b 2 up', 'c 3 up']), WITHIN_MS, 'c joins at the end');
        await eventually(async () => assert.ok(pidNames(await readdir(mnt)).includes(3 * PID_SPACE + 1)), 3000, 'c\'s processes listed');

        await dns.stop();
        await sleep(PERIOD_S * 3000);
        assert.deepEqual(await statusRows(mnt), ['me 0 local', 'a 1 up', 'b 2 up', 'c 3 up'], 'DNS not answering leaves the hosts as they were');

        await dns.serve([b, c].map(target));
        await eventually(async () => assert.deepEqual(await statusRows(mnt), ['me 0 local', 'c 1 up', 'b 2 up']), WITHIN_MS, 'a leaves; c, the last, moves into its place');
        assert.deepEqual((await readdir(join(mnt, 'hosts'))).sort(), ['b', 'c', 'me']);

        await dns.serve([]);
        await eventually(async () => assert.deepEqual(await statusRows(mnt), ['me 0 local']), WITHIN_MS, 'no records: every other host leaves');
      });
    });
  }));

  it('starts without DNS only with --allow-down, and takes the hosts once DNS lists them', () => temporaryDirectory(async (dir) => withTestDns(SERVICE, async (dns) => {
    const failed = await runKmx(['procsys', 'mount', '--insecure', '--name', 'me', '--srv', SERVICE, '--dns-server', dns.server, dir]);
    assert.notEqual(failed.code, 0);
    assertOneLineError(failed, /SRV lookup of _kmx-procsys\._tcp\.kmx\.test failed/);

    await dns.serve([]);
    const empty = await runKmx(['procsys', 'mount', '--insecure', '--name', 'me', '--srv', SERVICE, '--dns-server', dns.server, dir]);
    assert.notEqual(empty.code, 0);
    assertOneLineError(empty, /lists no host/);
    const badServer = await runKmx(['procsys', 'mount', '--insecure', '--srv', SERVICE, '--dns-server', 'dns.example', dir]);
    assert.notEqual(badServer.code, 0);
    assertOneLineError(badServer, /invalid --dns-server/);
    await dns.stop();

    await withTestNet(['a'], async (net) => {
      const [a] = net.hosts as [TestHost];
      await net.start(a, ['procsys', 'serve', '--insecure', '--listen', a.address, '--name', a.name]);
      const args = ['procsys', 'mount', '--insecure', '--name', 'me', '--srv', SERVICE, '--dns-server', dns.server, '--srv-period', String(PERIOD_S), '--allow-down'];
      await withTestMount({ args: ({ mnt }) => [...args, mnt] }, async ({ mnt }) => {
        assert.deepEqual(await statusRows(mnt), ['me 0 local']);
        await dns.serve([target(a)]);
        await eventually(async () => assert.deepEqual(await statusRows(mnt), ['me 0 local', 'a 1 up']), WITHIN_MS, 'a joins once DNS lists it');
      });
    });
  })));
});

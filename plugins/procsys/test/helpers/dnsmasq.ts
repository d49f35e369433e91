import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, listening, stopChild } from '@kmx/core/testing';

/** A DNS zone for tests, `kmx.test`, answered only from what the test gives (no upstream). */
export const TEST_ZONE = 'kmx.test';

export interface SrvTarget {
  /** The target's first label; the full name is LABEL.kmx.test. */
  label: string;
  ip: string;
  port: number;
}

export interface TestDns {
  /** IP:PORT, for --dns-server. */
  readonly server: string;
  /** Serves `service` (in kmx.test) with these targets from now on (dnsmasq is started again). */
  serve(targets: readonly SrvTarget[]): Promise<void>;
  /** No DNS server answers until the next serve(). */
  stop(): Promise<void>;
}

/**
 * Runs Debian's dnsmasq on 127.0.0.1 on a free port serving SRV records of `service` and
 * an A record per target; every change starts it again with the new records (it reads
 * SRV records only at start). Stopped by its pid at the end, whatever happened.
 */
export async function withTestDns<T>(service: string, body: (dns: TestDns) => Promise<T>): Promise<T> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';
  const stop = async (): Promise<void> => {
    if (child) await stopChild(child, 5000);
    child = undefined;
  };
  const serve = async (targets: readonly SrvTarget[]): Promise<void> => {
    await stop();
    const records = targets.flatMap((t) => [`--srv-host=${service},${t.label}.${TEST_ZONE},${t.port}`, `--host-record=${t.label}.${TEST_ZONE},${t.ip}`]);
    output = '';
    const started = spawn('dnsmasq', ['--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll', '--bind-interfaces', '--listen-address=127.0.0.1', `--port=${port}`, '--pid-file=', `--local=/${TEST_ZONE}/`, '--log-facility=-', ...records], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    started.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    for (let i = 0; i < 100 && !(await listening(port)); i++) {
      if (started.exitCode !== null) throw new Error(`dnsmasq did not start: ${output.trim()}`);
      await sleep(50);
    }
    if (!(await listening(port))) throw new Error(`dnsmasq does not listen on port ${port}: ${output.trim()}`);
  };
  try {
    return await body({ server: `127.0.0.1:${port}`, serve, stop });
  } finally {
    await stop();
  }
}

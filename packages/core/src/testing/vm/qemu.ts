import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { VmImage } from './image.js';

const QEMU = 'qemu-system-x86_64';

export interface VmRun {
  output: string;
  /** The guest reached its program (the initrd printed KMXVM-BOOTED). */
  booted: boolean;
  /** The JSON after `KMXVM-RESULT `, if the guest printed one. */
  result: unknown;
}

export interface VmOptions {
  image: VmImage;
  /** The compiled guest program, run as root by the host's Node with the host's root (read-only) as /. */
  guest?: string;
  /** The checkout the guest program lives in, kept visible at its path in the guest. */
  checkout?: string;
  /** Words NAME=value for the kernel command line: /init (and the guest program) get them as environment variables. */
  env?: Record<string, string>;
  /** More kernel command-line words (such as cgroup_no_v1=all). */
  kernelArgs?: readonly string[];
  /** Host ports the guest reaches at 10.0.2.100:<guest port> (restricted user networking). */
  forwards?: ReadonlyArray<{ guestPort: number; hostPort: number }>;
  timeoutMs: number;
}

/** Why no VM can boot here (QEMU is not installed), or undefined when it can. */
export function vmUnavailable(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, QEMU), constants.X_OK);
      return undefined;
    } catch {
      // not in this directory
    }
  }
  return `${QEMU} is not installed (apt-get install --no-install-recommends qemu-system-x86)`;
}

/** The JSON of the guest's `KMXVM-RESULT` line, if any. */
function resultOf(output: string): unknown {
  const line = output.split(/\r?\n/).find((l) => l.startsWith('KMXVM-RESULT '));
  try {
    return line ? JSON.parse(line.slice('KMXVM-RESULT '.length)) : undefined;
  } catch {
    return undefined;
  }
}

/** Boots the VM once, collects its console, and kills QEMU (by pid) if it outlives the timeout. */
export function runVm(o: VmOptions): Promise<VmRun> {
  // restrict=on: the guest reaches nothing but these forwards, each relayed to host loopback.
  const forwards = (o.forwards ?? []).map((f) => `,guestfwd=tcp:10.0.2.100:${f.guestPort}-cmd:busybox nc 127.0.0.1 ${f.hostPort}`).join('');
  const env = { ...(o.guest ? { KMXVM_GUEST: o.guest } : {}), ...(o.checkout ? { KMXVM_CHECKOUT: o.checkout } : {}), ...o.env };
  if (!env.KMXVM_GUEST || !env.KMXVM_CHECKOUT) throw new Error('runVm needs the guest program and its checkout');
  const append = ['console=ttyS0', 'quiet', 'panic=-1', ...(o.kernelArgs ?? []), ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ');
  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-m', '2048', '-smp', '2', '-kernel', o.image.kernel, '-initrd', o.image.initrd, '-append', append,
    '-nographic', '-no-reboot', '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
    '-netdev', `user,id=n0,restrict=on${forwards}`, '-device', 'virtio-net-pci,netdev=n0,romfile=',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve({ output, booted: output.includes('KMXVM-BOOTED'), result: resultOf(output) });
    });
  });
}

/**
 * Boots the VM, and once more if the first boot never reached the guest program (44 of 45
 * boots worked when measured). A guest program that started and printed no result crashed:
 * that is the caller's failure, not retried.
 */
export async function bootVm(o: VmOptions): Promise<VmRun> {
  const first = await runVm(o);
  return first.booted ? first : runVm(o);
}

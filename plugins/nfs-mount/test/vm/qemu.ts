import { spawn } from 'node:child_process';
import type { VmImage } from './image.js';

export interface VmRun {
  output: string;
  /** The JSON after `KMXVM-RESULT `, if the guest printed one. */
  result: unknown;
}

export interface VmOptions {
  image: VmImage;
  /** Words NAME=value for the kernel command line: /init gets them as environment variables. */
  env: Record<string, string>;
  /** Host ports the guest reaches at 10.0.2.100:<guest port> (restricted user networking). */
  forwards: Array<{ guestPort: number; hostPort: number }>;
  timeoutMs: number;
}

/** Boots the VM once, collects its console, and kills QEMU (by pid) if it outlives the timeout. */
export function runVm(o: VmOptions): Promise<VmRun> {
  // restrict=on: the guest reaches nothing but these forwards, each relayed to host loopback.
  const forwards = o.forwards.map((f) => `,guestfwd=tcp:10.0.2.100:${f.guestPort}-cmd:busybox nc 127.0.0.1 ${f.hostPort}`).join('');
  const append = ['console=ttyS0', 'quiet', 'panic=-1', ...Object.entries(o.env).map(([k, v]) => `${k}=${v}`)].join(' ');
  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-m', '2048', '-smp', '2', '-kernel', o.image.kernel, '-initrd', o.image.initrd, '-append', append,
    '-nographic', '-no-reboot', '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
    '-netdev', `user,id=n0,restrict=on${forwards}`, '-device', 'virtio-net-pci,netdev=n0,romfile=',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
      const line = output.split(/\r?\n/).find((l) => l.startsWith('KMXVM-RESULT '));
      let result: unknown;
      try {
        result = line ? JSON.parse(line.slice('KMXVM-RESULT '.length)) : undefined;
      } catch {
        result = undefined;
      }
      resolve({ output, result });
    });
  });
}

import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hook } from '@oclif/core';
import type { Tour } from '@kmx/core';

/** Waits for the agent's "serving … on ADDR" line. */
function addressOf(output: () => string, exited: () => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 30_000;
    const poll = (): void => {
      const match = /on (127\.0\.0\.1:\d+)/.exec(output());
      if (match) return resolve(match[1]!);
      if (exited() || Date.now() > deadline) return reject(new Error(`the tour's agent did not start: ${output()}`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

/** kmx procsys in the tour: a /proc mirror, a command run over it, and a merged view of two "hosts" (an agent on loopback). */
const hook: Hook<'kmx-tour'> = async function (options) {
  const tour = (options as unknown as { tour: Tour }).tour;
  const dir = await tour.dir();
  const view = join(dir, 'proc');
  const certs = join(dir, 'certs');
  await mkdir(view);

  tour.section('kmx procsys: /proc mirrored through FUSE');
  await tour.kmx(['procsys', 'mount', '--daemon', view]);
  await tour.shell(`head -3 '${view}/meminfo'`);
  tour.say('`self` is whoever reads it, not the server:');
  await tour.shell(`sh -c 'echo "my pid is $$"; exec readlink ${view}/self'`);
  tour.say('Commands run with the mirror over /proc (a private mount namespace; nothing else changes):');
  await tour.kmx(['procsys', 'run', '--mount', view, '--', 'sh', '-c', 'findmnt -o TARGET,FSTYPE /proc; free -m; ps -o pid,comm -p 1,$$']);
  await tour.kmx(['umount', view]);

  tour.section('kmx procsys: hosts merged (an agent on loopback stands for a second host)');
  await tour.kmx(['procsys', 'certs', '--dir', certs, '--node', 'tour-agent', '--node', 'tour-me']);
  tour.say(`$ kmx procsys serve --listen 127.0.0.1:0 --certs ${certs} --name tour-agent &`);
  const agent = spawn(process.execPath, [process.argv[1]!, 'procsys', 'serve', '--listen', '127.0.0.1:0', '--certs', certs, '--name', 'tour-agent'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  agent.stdout.on('data', (d: Buffer) => (output += d.toString()));
  agent.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const address = await addressOf(() => output, () => agent.exitCode !== null);
    tour.say(output.trim());
    await tour.kmx(['procsys', 'run', '--certs', certs, '--name', 'tour-me', '--peer', `tour-agent=${address}`, '--', 'sh', '-c',
      'cat /proc/status; ls /proc/hosts; grep -c ^processor /proc/cpuinfo; head -1 /proc/meminfo; ps -e -o pid=,comm= | tail -3']);
    tour.say('Both hosts\' processors and memory added up; the agent\'s processes appear as 4194304 + their pid.');
  } finally {
    agent.kill('SIGTERM');
    if (agent.exitCode === null) await new Promise((resolve) => agent.once('exit', resolve));
  }
};

export default hook;

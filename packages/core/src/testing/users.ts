import { randomBytes } from 'node:crypto';
import { run } from './processes.js';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

async function must(program: string, args: readonly string[]): Promise<string> {
  const r = await run(program, args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${program} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Runs `body` with `count` real unprivileged users (`kmxt` + random, each with a home), made
 * with useradd and removed with userdel -r afterwards, whatever happened. Root only; the test stops
 * every process it started as them (by pid) before this returns.
 */
export async function withTestUsers<T>(count: number, body: (users: TestUser[]) => Promise<T>): Promise<T> {
  const users: TestUser[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const name = `kmxt${randomBytes(4).toString('hex')}`;
      await must('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
      const [uid, gid, home] = (await must('getent', ['passwd', name])).trim().split(':').filter((_, k) => k === 2 || k === 3 || k === 5);
      users.push({ name, uid: Number(uid), gid: Number(gid), home: String(home) });
    }
    return await body(users);
  } finally {
    for (const user of users) {
      await run('userdel', ['--remove', user.name], { timeoutMs: 30_000 }).catch(() => undefined);
    }
  }
}

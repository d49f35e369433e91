import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
  let result: T;
  try {
    for (let i = 0; i < count; i++) {
      const name = `kmxt${randomBytes(4).toString('hex')}`;
      await must('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
      const [uid, gid, home] = (await must('getent', ['passwd', name])).trim().split(':').filter((_, k) => k === 2 || k === 3 || k === 5);
      users.push({ name, uid: Number(uid), gid: Number(gid), home: String(home) });
    }
    result = await body(users);
  } catch (err) {
    // The test's own error matters more than a user left behind, which is then only reported.
    const left = await removeUsers(users);
    if (left) process.stderr.write(`${left}\n`);
    throw err;
  }
  const left = await removeUsers(users);
  if (left) throw new Error(left);
  return result;
}

/** Removes the users; says which could not be removed, if any. */
async function removeUsers(users: readonly TestUser[]): Promise<string | undefined> {
  const left: string[] = [];
  for (const user of users) if (!(await removeUser(user.name))) left.push(user.name);
  return left.length > 0 ? `withTestUsers: could not remove the test users ${left.join(', ')}` : undefined;
}

/**
 * userdel, tried again while it fails: another test's useradd or userdel holds the lock on
 * /etc/passwd for a moment, and userdel then gives up at once. True once the user is gone.
 */
async function removeUser(name: string): Promise<boolean> {
  for (let attempt = 0; attempt < 40; attempt++) {
    await run('userdel', ['--remove', name], { timeoutMs: 30_000 }).catch(() => undefined);
    const present = await run('getent', ['passwd', name], { timeoutMs: 10_000 }).then((r) => r.code === 0, () => true);
    if (!present) return true;
    await sleep(250);
  }
  return false;
}

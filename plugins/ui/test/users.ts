import { run, withTestUsers, type TestUser } from '@kmx/core/testing';

/**
 * withTestUsers, then a check that each user is really gone: its userdel fails silently when
 * /etc/passwd is locked by another test's useradd at that moment, which left users behind.
 */
export async function withUsers<T>(count: number, body: (users: TestUser[]) => Promise<T>): Promise<T> {
  const made: TestUser[] = [];
  try {
    return await withTestUsers(count, (users) => {
      made.push(...users);
      return body(users);
    });
  } finally {
    for (const user of made) {
      for (let attempt = 0; attempt < 20; attempt++) {
        if ((await run('getent', ['passwd', user.name])).code !== 0) break;
        await run('userdel', ['--remove', user.name], { timeoutMs: 30_000 });
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}

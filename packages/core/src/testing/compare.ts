import assert from 'node:assert/strict';
import { run } from './processes.js';

export interface ScriptOptions {
  /** Run as this uid and gid, with no supplementary groups (no such account needs to exist). */
  user?: number;
}

/**
 * Runs a shell script in `dir`, as root or as `options.user`, and returns everything it printed
 * (stderr merged into stdout, in order) and then `exit=<status>`. The environment is fixed (C
 * locale, UTC) so that two runs compare.
 */
export async function scriptOutput(dir: string, script: string, options: ScriptOptions = {}): Promise<string> {
  const wrapped = `set -u; cd '${dir}' && { ${script}\n} 2>&1; echo "exit=$?"`;
  const env = { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', LC_ALL: 'C', TZ: 'UTC' };
  const shell = ['/bin/sh', '-c', wrapped];
  const [program, ...args] = options.user === undefined ? shell : ['setpriv', `--reuid=${options.user}`, `--regid=${options.user}`, '--clear-groups', ...shell];
  const r = await run(program!, args, { env, timeoutMs: 120_000 });
  assert.equal(r.signal, null, `the script was killed (${r.signal}):\n${script}`);
  return r.stdout;
}

/**
 * What a failed script prints, whatever directory it ran in: a missing tool, a Python error, a
 * bad option. Two runs that both print it agree, and compare nothing.
 */
const SCRIPT_FAILED = /^(\/bin\/sh: \d+: .*: not found|Traceback \(most recent call last\):|\S+: (invalid|unrecognized) option)/m;

/**
 * Runs `script` in a mount and in a plain directory beside it: both must print the same (errno
 * messages, owners, modes, sizes, times), with each directory's path written `<dir>`. Returns the
 * plain directory's output.
 */
export async function sameAsPlain(mnt: string, plain: string, script: string, options: ScriptOptions = {}): Promise<string> {
  const inMount = await scriptOutput(mnt, script, options);
  const inPlain = await scriptOutput(plain, script, options);
  assert.doesNotMatch(inPlain, SCRIPT_FAILED, `the script itself failed:\n${script}\n${inPlain}`);
  const clean = (out: string, dir: string): string => out.replaceAll(dir, '<dir>');
  assert.equal(clean(inMount, mnt), clean(inPlain, plain), `${options.user === undefined ? 'as root' : `as uid ${options.user}`}, differs from a plain directory:\n${script}`);
  return inPlain;
}

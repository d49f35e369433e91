import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mountsUnder, runKmx, sh, temporaryDirectory, withTestMount } from '@kmx/core/testing';

/** Runs `cmd` directly and through `kmx procsys run ARGS -- cmd`; passes when the view's output equals a direct one taken around it. */
async function sameAsDirect(cmd: string, viewArgs: readonly string[], normalise: (s: string) => string = (s) => s): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const before = await sh(cmd);
    const through = await runKmx(['procsys', 'run', ...viewArgs, '--', 'sh', '-c', cmd]);
    const after = await sh(cmd);
    assert.equal(through.code, before.code, `${cmd}: ${through.stderr}`);
    const got = normalise(through.stdout);
    if (got === normalise(before.stdout) || got === normalise(after.stdout)) return;
    last = `direct:\n${before.stdout}\nthrough kmx:\n${through.stdout}`;
  }
  assert.fail(`${cmd} differs through the view:\n${last}`);
}

const firstColumns = (n: number) => (s: string): string => s.split('\n').map((l) => l.trim().split(/\s+/).slice(0, n).join(' ')).join('\n');

describe('kmx procsys run: commands see the view as /proc', () => {
  it('net-tools, hostname, free, uptime, ps print what they print directly', async () => {
    for (const cmd of ['route -n', 'arp -n', 'netstat -rn', 'netstat -tuln', 'hostname']) await sameAsDirect(cmd, []);
    // Counters move between two runs: compare what does not.
    await sameAsDirect('free | awk \'{print $1, $2}\'', []);
    await sameAsDirect('uptime | sed -e "s/^ *[0-9:]* //" -e "s/load average:.*//"', []);
    await sameAsDirect('ifconfig -a | grep -E "^[a-z]|inet "', []);
    await sameAsDirect('netstat -i | awk \'{print $1, $2}\'', []);
    // ps: every process that exists before and after is listed, with its user and command.
    // Kernel workers rename themselves as they take work: leave them out.
    const direct = async (): Promise<Set<string>> => new Set((await sh('ps -e -o pid=,user=,comm=')).stdout.split('\n').map((l) => l.trim()).filter((l) => l && !/ kworker/.test(l)));
    const before = await direct();
    const through = await runKmx(['procsys', 'run', '--', 'ps', '-e', '-o', 'pid=,user=,comm=']);
    const after = await direct();
    assert.equal(through.code, 0, through.stderr);
    const seen = new Set(through.stdout.split('\n').map((l) => l.trim()));
    for (const line of before) if (after.has(line)) assert.ok(seen.has(line), `ps through the view lacks: ${line}`);
    const aux = await runKmx(['procsys', 'run', '--', 'ps', 'aux']);
    assert.equal(aux.code, 0, aux.stderr);
    assert.equal(firstColumns(1)(aux.stdout.split('\n')[0]!), 'USER');
  });

  it('runs over an existing mount; stdin, process substitution and exit codes work', () => withTestMount({ args: ({ mnt }) => ['procsys', 'mount', mnt] }, async ({ mnt }) => {
    const r = await runKmx(['procsys', 'run', '--mount', mnt, '--', 'bash', '-c', 'echo piped | cat /dev/stdin; cat <(echo substituted); findmnt -n -o FSTYPE /proc | sort | tr "\\n" " "; exit 7']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'piped\nsubstituted\nfuse.kmx-procsys proc ');
    const self = await runKmx(['procsys', 'run', '--mount', mnt, '--', 'sh', '-c', 'echo $$; readlink /proc/self; exec readlink /proc/self']);
    const [shell, child, exec] = self.stdout.trim().split('\n');
    assert.notEqual(child, shell);
    assert.equal(exec, shell);
  }));

  it('a temporary view leaves nothing mounted', () => temporaryDirectory(async (dir) => {
    const r = await runKmx(['procsys', 'run', '--', 'sh', '-c', 'test -r /proc/meminfo && findmnt -n -o FSTYPE /proc | grep -c kmx-procsys'], { env: { ...process.env, TMPDIR: dir } });
    assert.equal(r.stdout.trim(), '1', r.stderr);
    assert.deepEqual(await mountsUnder(dir), []);
  }));
});

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run, runKmx, temporaryDirectory } from '@kmx/core/testing';

/** Shell completion (@oclif/plugin-autocomplete): kmx's commands, topics and flags, in bash and zsh. */

describe('shell completion', () => {
  it('completes topics, commands and flags in bash, and writes a zsh function that zsh parses', () => temporaryDirectory(async (dir) => {
    const env = { ...process.env, HOME: dir, XDG_CACHE_HOME: join(dir, 'cache') };
    const setup = await runKmx(['autocomplete', 'bash'], { env });
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stdout, /kmx autocomplete script bash/);
    const functions = join(dir, 'cache', 'kmx', 'autocomplete', 'functions');
    const complete = async (...words: string[]): Promise<string[]> => {
      const script = `source '${functions}/bash/kmx.bash'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kmx_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await run('bash', ['-c', script]);
      assert.equal(r.code, 0, r.stderr);
      return [...new Set(r.stdout.split('\n').filter(Boolean))].sort();
    };
    assert.deepEqual(await complete('kmx', 'sf'), ['sftp']);
    assert.deepEqual(await complete('kmx', 'ns', ''), ['graph', 'list', 'show', 'tree']);
    assert.deepEqual(await complete('kmx', 'sftp', 'mo'), ['mount']);
    assert.deepEqual(await complete('kmx', 'sftp', 'mount', '--ide'), ['--identity']);
    assert.deepEqual(await complete('kmx', 'enc', 'mount', '--pass'), ['--passfile']);
    assert.ok(existsSync(join(functions, 'zsh', '_kmx')), 'a zsh completion function');
    const zsh = await run('zsh', ['-n', join(functions, 'zsh', '_kmx')]);
    assert.equal(zsh.code, 0, zsh.stderr);
    const script = await runKmx(['autocomplete', 'script', 'zsh'], { env });
    assert.equal(script.code, 0, script.stderr);
    assert.match(script.stdout, /KMX_AC_ZSH_SETUP_PATH=\S+\/zsh_setup/);
    const zshSetup = await run('zsh', ['-n', join(dir, 'cache', 'kmx', 'autocomplete', 'zsh_setup')]);
    assert.equal(zshSetup.code, 0, zshSetup.stderr);
  }));
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Config } from '@oclif/core';
import { assertOneLineError, runKmx } from '@kmx/core/testing';

describe('kmx help', () => {
  it('lists the five plugin topics and the host commands, one line each', async () => {
    const r = await runKmx(['--help'], { env: { ...process.env, COLUMNS: '200' } });
    assert.equal(r.code, 0, r.stderr);
    for (const topic of ['enc', 'nfs', 'ns', 'procsys', 'sftp']) assert.match(r.stdout, new RegExp(`^  ${topic} +\\S.*$`, 'm'), topic);
    for (const command of ['doctor', 'mounts', 'passthrough', 'umount']) assert.match(r.stdout, new RegExp(`^  ${command} +\\S`, 'm'), command);
  });

  it('shows a command\'s examples, and a topic\'s help', async () => {
    const command = await runKmx(['passthrough', '--help']);
    assert.equal(command.code, 0, command.stderr);
    assert.match(command.stdout, /EXAMPLES/);
    assert.match(command.stdout, /\$ kmx passthrough ~\/src \/tmp\/view/);
    assert.match(command.stdout, /--daemon/);
    assert.match(command.stdout, /--fuse-engine/);
    const topic = await runKmx(['enc', '--help']);
    assert.equal(topic.code, 0, topic.stderr);
    assert.match(topic.stdout, /gocryptfs/);
  });

  it('answers a mistyped command, topic or flag with one line naming what was meant, with or without --help', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['sftp', 'mout'], /^kmx: unknown command "sftp mout"; did you mean "kmx sftp mount"\? see: kmx --help$/],
      [['mouts'], /^kmx: unknown command "mouts"; did you mean "kmx mounts"\?/],
      [['sftp', 'mout', '--help'], /^kmx: unknown command "sftp mout"; did you mean "kmx sftp mount"\?/],
      [['nosuchthing', '--help'], /^kmx: unknown command "nosuchthing"; see: kmx --help$/],
      [['sftp', 'mount', '--idenity', 'k', 'h:/', '/m'], /^kmx: Nonexistent flag: --idenity; did you mean --identity\? see: kmx sftp mount --help$/],
      [['enc', 'mount', '-p', 'x', 'a', 'b'], /^kmx: Nonexistent flag: -p; did you mean --passfile\? see: kmx enc mount --help$/],
    ];
    for (const [args, pattern] of cases) assertOneLineError(await runKmx(args), pattern, 2);
  });

  it('prints the version line oclif prints, without loading oclif', async () => {
    const r = await runKmx(['--version']);
    assert.equal(r.code, 0, r.stderr);
    const config = await Config.load(new URL('../..', import.meta.url).pathname);
    assert.equal(r.stdout, `${config.userAgent}\n`);
  });
});

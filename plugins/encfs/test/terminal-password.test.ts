import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atTerminal, kmxBin, temporaryDirectory } from '@kmx/core/testing';
import { gocryptfsFsck } from './helpers.js';

const DEL = '\x7f';
const init = (dir: string): string[] => [process.execPath, kmxBin(), 'enc', 'init', '--scryptn', '10', dir];

describe('kmx enc: the password typed at a terminal', () => {
  it('is the bytes gocryptfs reads from a file, after corrections, in any script', () => temporaryDirectory(async (tmp) => {
    for (const [i, password, keys] of [
      [1, 'pässwörd€', `pässwörx${DEL}d€\r`],
      [2, 'пароль 密码', `пароли${DEL}ь 密码\r`],
      [3, 'straße', `wrong\x15straße\r`],
    ] as const) {
      const dir = join(tmp, `cipher${i}`);
      await mkdir(dir);
      const r = await atTerminal(init(dir), [{ after: 'New password: ', type: keys }, { after: 'Repeat: ', type: `${password}\r` }]);
      assert.equal(r.code, 0, r.stdout);
      assert.ok(!r.stdout.includes(password), 'not echoed');
      const passfile = join(tmp, `pw${i}`);
      await writeFile(passfile, password);
      const fsck = await gocryptfsFsck(dir, ['-passfile', passfile]);
      assert.equal(fsck.code, 0, `gocryptfs opens it with ${JSON.stringify(password)}: ${fsck.stdout}${fsck.stderr}`);
    }
  }));

  it('two different answers, or Ctrl-C, leave no config behind', () => temporaryDirectory(async (tmp) => {
    const dir = join(tmp, 'cipher');
    await mkdir(dir);
    const differ = await atTerminal(init(dir), [{ after: 'New password: ', type: 'één\r' }, { after: 'Repeat: ', type: 'een\r' }]);
    assert.notEqual(differ.code, 0);
    assert.match(differ.stdout, /kmx: the two passwords differ/);
    const cancelled = await atTerminal(init(dir), [{ after: 'New password: ', type: 'één\r' }, { after: 'Repeat: ', type: 'éé\x03' }]);
    assert.equal(cancelled.code, 130, cancelled.stdout);
    assert.match(cancelled.stdout, /kmx: interrupted/);
    assert.doesNotMatch(cancelled.stdout, /\n\s+at /, 'no stack trace');
    assert.ok(!existsSync(join(dir, 'gocryptfs.conf')));
  }));
});

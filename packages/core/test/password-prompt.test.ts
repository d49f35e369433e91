import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { atTerminal, run } from '@kmx/core/testing';

const core = pathToFileURL(createRequire(import.meta.url).resolve('@kmx/core')).href;

/** Asks `prompts` times on the terminal; prints each answer's bytes in hex, or the error, and whether raw mode was left on. */
const ASK = (prompts: number): string => `
const { promptHidden } = await import(${JSON.stringify(core)});
try {
  for (let i = 1; i <= ${prompts}; i++) console.log('answer' + i + '=' + (await promptHidden('Secret ' + i + ': ')).toString('hex'));
  console.log('raw=' + process.stdin.isRaw);
} catch (e) {
  console.log('error=' + e.message + ' raw=' + process.stdin.isRaw);
  process.exit(e.exitCode ?? 1);
}`;

async function typed(keys: string | Buffer, prompts = 1): Promise<{ code: number | null; shown: string }> {
  const r = await atTerminal([process.execPath, '--input-type=module', '-e', ASK(prompts)], [{ after: 'Secret 1: ', type: keys }]);
  return { code: r.code, shown: r.stdout };
}

const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');
const DEL = '\x7f';
const BS = '\b';

describe('the password prompt (core, for every plugin), at a real terminal', () => {
  it('keeps the bytes exactly as typed, non-ASCII too, and echoes none of them', async () => {
    for (const password of ['pässwörd€', 'naïve 密码 😀', 'tab\there', 'Ünïcödé']) {
      const r = await typed(`${password}\r`);
      assert.equal(r.code, 0, r.shown);
      assert.match(r.shown, new RegExp(`answer1=${hex(password)}\\b`), password);
      assert.ok(!r.shown.includes(password), 'not echoed');
      assert.match(r.shown, /raw=false/, 'the terminal is restored');
    }
    const latin1 = await typed(Buffer.from([0x70, 0xe9, 0x0d]));
    assert.match(latin1.shown, /answer1=70e9\b/, 'a byte that is not UTF-8 is kept as it is');
  });

  it('Backspace removes one character, whole, whatever its length in bytes', async () => {
    const cases: Array<[string, string]> = [
      [`é${DEL}e\r`, 'e'],
      [`pa€${DEL}s\r`, 'pas'],
      [`x😀${BS}y\r`, 'xy'],
      [`ab${DEL}${DEL}${DEL}${DEL}c\r`, 'c'],
      [`wörd${DEL}${DEL}${DEL}ord\r`, 'word'],
    ];
    for (const [keys, password] of cases) {
      const r = await typed(keys);
      assert.match(r.shown, new RegExp(`answer1=${hex(password)}\\b`), JSON.stringify(keys));
    }
  });

  it('Ctrl-U clears the line; Ctrl-Z and Ctrl-\\ are not password characters', async () => {
    assert.match((await typed('wrong\x15right\r')).shown, new RegExp(`answer1=${hex('right')}\\b`));
    assert.match((await typed('a\x1ab\x1cc\r')).shown, new RegExp(`answer1=${hex('abc')}\\b`));
  });

  it('Ctrl-C cancels with exit code 130 and a restored terminal; Ctrl-D on an empty line gives up', async () => {
    const cancelled = await typed('half\x03');
    assert.equal(cancelled.code, 130, cancelled.shown);
    assert.match(cancelled.shown, /error=interrupted raw=false/);
    const none = await typed('\x04');
    assert.equal(none.code, 22, none.shown);
    assert.match(none.shown, /error=no password given/);
  });

  it('a pasted line ending in Enter answers the next prompt', async () => {
    const r = await typed('first\rsecond\r', 2);
    assert.equal(r.code, 0, r.shown);
    assert.match(r.shown, new RegExp(`answer1=${hex('first')}\\b[\\s\\S]*answer2=${hex('second')}\\b`));
  });

  it('without a terminal, says so in one line', async () => {
    const r = await run(process.execPath, ['--input-type=module', '-e', ASK(1)]);
    assert.equal(r.code, 22);
    assert.match(r.stdout, /^error=no terminal to ask for a password on raw=undefined$/m);
  });
});

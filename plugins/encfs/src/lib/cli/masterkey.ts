import { KmxError } from '@kmx/core';
import { MASTER_KEY_BYTES } from '../cryptocore/index.js';
import { ExitCode } from '../exitcodes/index.js';
import { readPassword } from '../readpassword/index.js';

/** `--masterkey stdin`: read the key from stdin (a hidden prompt on a terminal), as gocryptfs's `-masterkey=stdin`. */
export const MASTER_KEY_FROM_STDIN = 'stdin';

/** gocryptfs's spelling of a master key: 8 groups of 8 hex digits joined by dashes. */
export function formatMasterKey(master: Buffer): string {
  return (master.toString('hex').match(/.{8}/g) ?? []).join('-');
}

/** What `init` prints, as gocryptfs does: the key in two lines of four groups, and why to keep it. */
export function masterKeyNotice(master: Buffer, configFile: string): string {
  const groups = formatMasterKey(master).split('-');
  return [
    'Your master key is:',
    '',
    `    ${groups.slice(0, 4).join('-')}-`,
    `    ${groups.slice(4).join('-')}`,
    '',
    `If ${configFile} becomes corrupted or you ever forget your password,`,
    'there is only one hope for recovery: the master key. Write it on paper and keep it',
    'in a drawer; this message is printed only once. Recover with:',
    '    kmx enc mount --masterkey stdin CIPHERDIR MOUNTPOINT   (or gocryptfs -masterkey=stdin)',
  ].join('\n');
}

/** A master key as the user typed it: 64 hex digits, dashes and spaces (gocryptfs's line break) allowed. */
export function parseMasterKey(text: string): Buffer {
  const digits = text.replace(/[-\s]/g, '');
  const hex = /^[0-9a-fA-F]*$/.test(digits);
  if (!hex || digits.length !== MASTER_KEY_BYTES * 2) {
    throw new KmxError(`the master key ${hex ? `has ${digits.length} hex digits, not ${MASTER_KEY_BYTES * 2}` : 'is not hexadecimal'} (8 groups of 8, dashes allowed)`, {
      exitCode: ExitCode.masterKey,
      hint: 'copy it as kmx enc init or gocryptfs -init printed it, or use --masterkey stdin',
    });
  }
  return Buffer.from(digits, 'hex');
}

/** The key given with --masterkey: the flag's value, or a line of stdin for `stdin`. */
export async function readMasterKey(flag: string): Promise<Buffer> {
  if (flag !== MASTER_KEY_FROM_STDIN) {
    process.stderr.write('kmx enc: warning: a master key on the command line shows in "ps" and may stay in your shell history; --masterkey stdin reads it from stdin\n');
    return parseMasterKey(flag);
  }
  const typed = await readPassword({}, { prompt: 'Master key: ', what: 'master key' });
  try {
    return parseMasterKey(typed.toString('utf8'));
  } finally {
    typed.fill(0);
  }
}

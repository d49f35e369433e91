import { createInterface } from 'node:readline/promises';
import { KmxError } from '@kmx/core';
import { fingerprint, keyType } from './known-hosts.js';

const MAX_TRIES = 5;

/**
 * ssh's question for a host key not in known_hosts (StrictHostKeyChecking=ask, at a terminal):
 * yes, no, or the fingerprint the user has from elsewhere. True means trust it.
 */
export async function askAboutHostKey(name: string, blob: Buffer): Promise<boolean> {
  const type = keyType(blob).replace(/^ssh-/, '').replace(/^ecdsa-sha2-.*/, 'ECDSA').toUpperCase();
  const print = fingerprint(blob);
  process.stderr.write(`The authenticity of host '${name}' can't be established.\n${type} key fingerprint is ${print}.\n`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // The end of input or Ctrl-C ends the questions, whichever one is being asked (or is next).
  let gone: KmxError | undefined;
  const abandoned = new Promise<never>((_, reject) => {
    const end = (error: KmxError): void => {
      gone ??= error;
      reject(gone);
    };
    rl.once('close', () => end(new KmxError('host key verification failed: no answer (end of input)')));
    rl.once('SIGINT', () => end(new KmxError('interrupted', { exitCode: 130 })));
  });
  const ask = (question: string): Promise<string> => (gone ? Promise.reject(gone) : Promise.race([rl.question(question), abandoned]));
  try {
    let question = 'Are you sure you want to continue connecting (yes/no/[fingerprint])? ';
    for (let i = 0; i < MAX_TRIES; i++) {
      const said = (await ask(question)).trim();
      if (said.toLowerCase() === 'yes') return true;
      if (said.toLowerCase() === 'no') return false;
      if (said === print) return true;
      question = said.startsWith('SHA256:') ? `The fingerprint does not match. Please type 'yes', 'no' or the fingerprint: ` : `Please type 'yes', 'no' or the fingerprint: `;
    }
    return false;
  } finally {
    rl.close();
    process.stdin.pause();
  }
}

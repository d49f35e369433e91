import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tour } from '@kmx/core';

/**
 * kmx enc in the tour: an encrypted directory and its plaintext view, then the reverse view
 * of plain files (what a backup would copy), restored from the copy. Everything lives in the
 * tour's directory; every mount is unmounted by the steps themselves (and by the tour's
 * clean-up if a step fails).
 */
export default async function tour(options: { tour: Tour }): Promise<void> {
  const { tour } = options;
  const dir = await tour.dir();
  const pw = join(dir, 'enc-password');
  const [vaultEnc, vault, docs, docsEnc, backup, restored] = ['vault.enc', 'vault', 'docs', 'docs.enc', 'backup', 'restored'].map((n) => join(dir, n)) as [string, string, string, string, string, string];
  for (const d of [vaultEnc, vault, docsEnc, backup, restored]) await mkdir(d);
  await mkdir(join(docs, 'taxes'), { recursive: true });
  await writeFile(join(docs, 'notes.txt'), 'Plain notes, backed up only as ciphertext.\n');
  await writeFile(join(docs, 'taxes', '2024.txt'), 'Income: 42\n');
  await writeFile(pw, 'tour password\n', { mode: 0o600, flag: 'wx' }); // a new file, owner-only from the start

  tour.section("kmx enc: encrypted directories in gocryptfs's format");
  tour.say('A new CIPHERDIR (the tour uses a fast key derivation, --scryptn 10; the default is 16):');
  await tour.kmx(['enc', 'init', '--scryptn', '10', '--passfile', pw, vaultEnc]);
  await tour.kmx(['enc', 'mount', '--daemon', '--passfile', pw, vaultEnc, vault]);
  await tour.shell(`echo 'Dear diary' > '${vault}/diary.txt' && mkdir '${vault}/photos' && cat '${vault}/diary.txt'`);
  tour.say('On disk, names and contents are encrypted (stock gocryptfs mounts this directory too):');
  await tour.shell(`ls -l '${vaultEnc}'`);
  await tour.kmx(['umount', vault]);
  await tour.kmx(['enc', 'fsck', '--passfile', pw, vaultEnc]);

  tour.section('kmx enc --reverse: back up ciphertext without a second copy');
  await tour.kmx(['enc', 'init', '--reverse', '--scryptn', '10', '--passfile', pw, docs]);
  await tour.kmx(['enc', 'mount', '--reverse', '--daemon', '--passfile', pw, docs, docsEnc]);
  tour.say('The read-only encrypted view of docs, the same bytes every time (what a backup program copies):');
  await tour.shell(`ls -R '${docsEnc}' && cp -a '${docsEnc}/.' '${backup}/'`);
  await tour.kmx(['enc', 'encrypt-path', '--reverse', '--passfile', pw, docs, 'taxes/2024.txt']);
  await tour.kmx(['umount', docsEnc]);
  tour.say('Restore: the copy is an ordinary CIPHERDIR; mount it read-only and compare:');
  await tour.kmx(['enc', 'mount', '--ro', '--daemon', '--passfile', pw, backup, restored]);
  await tour.shell(`diff -r --exclude=.gocryptfs.reverse.conf '${docs}' '${restored}' && echo 'restored copy = original'`);
  await tour.kmx(['umount', restored]);
}

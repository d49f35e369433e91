/**
 * What users of a peer tool type, as kmx's own flags: gocryptfs's single-dash long flags
 * (`-passfile F`, `-reverse`), sshfs's `-p PORT`, lsns's bundled letters. A command lists them in
 * `static peerSpellings`; the words are rewritten before oclif parses them, so help and errors
 * keep kmx's spelling.
 *
 * A spelling maps to kmx's flag (`'--passfile'`), or to `null` for a peer flag that means nothing
 * to kmx and is accepted without effect (gocryptfs's `-nosyslog`): never silently dropped
 * unless listed so.
 */
export type PeerSpellings = Readonly<Record<string, string | null>>;

/** `argv` with every peer spelling replaced; `-flag=value` keeps its value; nothing after `--`. */
export function respell(argv: readonly string[], spellings: PeerSpellings | undefined): string[] {
  if (!spellings) return [...argv];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const eq = word.indexOf('=');
    const name = eq > 0 ? word.slice(0, eq) : word;
    if (!word.startsWith('-') || !Object.hasOwn(spellings, name)) {
      out.push(word);
      continue;
    }
    const ours = spellings[name];
    if (ours === null || ours === undefined) continue;
    out.push(eq > 0 ? `${ours}=${word.slice(eq + 1)}` : ours);
  }
  return out;
}

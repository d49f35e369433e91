/**
 * What users of a peer tool type, as kmx's own flags: gocryptfs's single-dash long flags
 * (`-passfile F`, `-reverse`), lsns's bundled letters (`-rn`). A command lists them in
 * `static peerSpellings` and `static peerShortFlags`; the words are rewritten before oclif
 * parses them, so help and errors keep kmx's spelling.
 *
 * A spelling maps to kmx's flag (`'--passfile'`), or to `null` for a peer flag that means nothing
 * to kmx and is accepted without effect (gocryptfs's `-nosyslog`): never silently dropped
 * unless listed so.
 */
export type PeerSpellings = Readonly<Record<string, string | null>>;

/** The words before `--`, to rewrite, and `--` with what follows it, left as they are. */
function atDoubleDash(argv: readonly string[]): [string[], string[]] {
  const end = argv.indexOf('--');
  return end < 0 ? [[...argv], []] : [argv.slice(0, end), argv.slice(end)];
}

/** `argv` with every peer spelling replaced; `-flag=value` keeps its value; nothing after `--`. */
export function respell(argv: readonly string[], spellings: PeerSpellings | undefined): string[] {
  if (!spellings) return [...argv];
  const [words, rest] = atDoubleDash(argv);
  const out = words.flatMap((word) => {
    const eq = word.indexOf('=');
    const name = eq > 0 ? word.slice(0, eq) : word;
    if (!word.startsWith('-') || !Object.hasOwn(spellings, name)) return [word];
    const ours = spellings[name];
    if (ours === null || ours === undefined) return [];
    return [eq > 0 ? `${ours}=${word.slice(eq + 1)}` : ours];
  });
  return [...out, ...rest];
}

/** Single letters a getopt-style peer lets users bundle: those without a value, and those with one. */
export interface ShortFlags {
  booleans: string;
  withValue: string;
}

/**
 * Bundled short flags as getopt reads them, split into words oclif parses: `-rn` → `-r -n`,
 * `-Jp1` → `-J -p 1`, `-tnet` → `-t net`. A word with any other letter is left alone for oclif
 * to report; nothing after `--` or after a flag that takes a value.
 */
export function expandShortFlags(argv: readonly string[], { booleans, withValue }: ShortFlags): string[] {
  const [words, rest] = atDoubleDash(argv);
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!/^-[^-]/.test(word) || word.length <= 2) {
      out.push(word);
      if (word.length === 2 && withValue.includes(word[1]!) && i + 1 < words.length) out.push(words[++i]!); // its value, as is
      continue;
    }
    out.push(...(splitBundle(word.slice(1), booleans, withValue) ?? [word]));
  }
  return [...out, ...rest];
}

function splitBundle(letters: string, booleans: string, withValue: string): string[] | undefined {
  const words: string[] = [];
  for (let k = 0; k < letters.length; k++) {
    const letter = letters[k]!;
    if (withValue.includes(letter)) {
      words.push(`-${letter}`);
      if (k + 1 < letters.length) words.push(letters.slice(k + 1));
      return words;
    }
    if (!booleans.includes(letter)) return undefined;
    words.push(`-${letter}`);
  }
  return words;
}

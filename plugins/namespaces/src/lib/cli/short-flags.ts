/**
 * Bundled short flags as getopt reads them, split into words oclif parses: `-rn` → `-r -n`,
 * `-Jp1` → `-J -p 1`, `-tnet` → `-t net`. `booleans` are letters without a value, `withValue`
 * letters that take one (the rest of the word, or the next word). A word with any other letter
 * is left alone for oclif to report; nothing after `--` or after a flag that takes a value.
 */
export function expandShortFlags(argv: readonly string[], booleans: string, withValue: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!/^-[^-]/.test(word) || word.length <= 2) {
      out.push(word);
      if (word.length === 2 && withValue.includes(word[1]!) && i + 1 < argv.length) out.push(argv[++i]!); // its value, as is
      continue;
    }
    const split = splitBundle(word.slice(1), booleans, withValue);
    out.push(...(split ?? [word]));
  }
  return out;
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

import { KmxError } from '../errors/index.js';
import { closest } from './suggest.js';

export interface ErrorReport {
  /** One line: what is wrong, and (after '; ') what to do about it. */
  line: string;
  exitCode: number;
  json: { error: { message: string; hint?: string; code?: string; exitCode: number } };
}

interface OclifError {
  oclif?: { exit?: number };
  code?: unknown;
}

/**
 * The one way kmx describes a failure to a user. KmxErrors carry their own message, hint and
 * exit code; oclif's parse errors (multi-line) are folded into one line with exit code 2;
 * anything else is a bug: its message is shown and --verbose shows its stack.
 */
/**
 * `flags`: the command's long flag names, so that an unknown one is answered with the flag
 * meant ("did you mean --port?").
 */
export function reportError(err: unknown, commandId?: string, flags: readonly string[] = []): ErrorReport {
  const error = err instanceof Error ? err : new Error(String(err));
  let message: string;
  let hint: string | undefined;
  let exitCode: number;
  if (error instanceof KmxError) {
    message = error.message;
    hint = error.hint;
    exitCode = error.exitCode;
  } else if ((error as OclifError).oclif?.exit !== undefined) {
    const lines = error.message.split('\n').map((l) => l.trim()).filter((l) => l && !/^(See more help with|Note:)/.test(l));
    // "Missing 2 required args:" is followed by one "name  description" line per argument.
    message = /^Missing \d+ required args?:?$/.test(lines[0] ?? '')
      ? `${lines[0]?.replace(/:?$/, ':')} ${lines.slice(1).flatMap((l) => /^(\S+)\s{2,}/.exec(l)?.[1] ?? []).join(', ')}`
      : lines.join(' ');
    hint = commandId ? `see: kmx ${commandId.replaceAll(':', ' ')} --help` : 'see: kmx --help';
    const unknown = /^Nonexistent flags?: (-{1,2})([^\s,]+)/.exec(lines[0] ?? '');
    if (unknown) {
      // A single dash: a long flag it starts (sshfs's -p is --port), else, for a peer's
      // single-dash long flag (gocryptfs's -pasfile), the nearest name; "-flag=value" too.
      const [, dashes, typed = ''] = unknown;
      const name = typed.split('=')[0]!;
      const meant = (dashes === '-' ? flags.find((f) => f.startsWith(name)) : undefined) ?? (dashes === '--' || name.length > 1 ? closest(name, flags) : undefined);
      if (meant) hint = `did you mean --${meant}? ${hint}`;
    }
    exitCode = (error as OclifError).oclif?.exit ?? 2;
  } else {
    message = error.message || error.name;
    hint = 'this is a bug in kmx; --verbose shows where it happened';
    exitCode = 1;
  }
  const oneLine = message.replace(/\s*\n\s*/g, ' ');
  const code = typeof (error as OclifError).code === 'string' ? String((error as OclifError).code) : undefined;
  return {
    line: hint ? `kmx: ${oneLine}; ${hint}` : `kmx: ${oneLine}`,
    exitCode,
    json: { error: { message: oneLine, ...(hint ? { hint } : {}), ...(code ? { code } : {}), exitCode } },
  };
}

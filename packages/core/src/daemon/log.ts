// kmxd's log: one line per event, `who | message`, where who is the caller as the socket
// named them (`alice(1001) pid 4242`) or `kmxd` for the daemon's own events.

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface DaemonLog {
  error(who: string, message: string): void;
  warn(who: string, message: string): void;
  info(who: string, message: string): void;
  debug(who: string, message: string): void;
}

/** Control characters from requests must not forge log lines. */
// eslint-disable-next-line no-control-regex
const clean = (text: string): string => text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

export function createLog(level: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)): DaemonLog {
  const threshold = LOG_LEVELS.indexOf(level);
  const at = (index: number) => (who: string, message: string): void => {
    if (index <= threshold) write(`${clean(who)} | ${clean(message)}\n`);
  };
  return { error: at(0), warn: at(1), info: at(2), debug: at(3) };
}

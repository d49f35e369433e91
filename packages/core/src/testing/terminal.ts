import { run, type RunResult } from './processes.js';

/** One step at the terminal: once `after` has shown (since the last step), type `type`. */
export interface Keystrokes {
  after: string;
  type: string | Buffer;
}

// Runs argv on a pseudo-terminal and types each step's bytes once its text has shown; prints
// what the terminal showed and exits with the program's status (128+N for signal N).
const DRIVER = `
import json, os, pty, select, sys, time
steps = [(s['after'].encode(), bytes.fromhex(s['type'])) for s in json.loads(sys.argv[1])]
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen, mark, status, deadline = b'', 0, None, time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b''
        seen += chunk
        if not chunk and status is None:
            _, status = os.waitpid(pid, 0)
            break
    while steps and steps[0][0] in seen[mark:]:
        mark = seen.index(steps[0][0], mark) + len(steps[0][0])
        time.sleep(0.1)  # the prompt is written before the terminal is switched to raw mode
        os.write(fd, steps.pop(0)[1])
    if status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            try:
                while select.select([fd], [], [], 0.2)[0]:
                    chunk = os.read(fd, 4096)
                    if not chunk: break
                    seen += chunk
            except OSError:
                pass
            break
if status is None:
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

/**
 * Runs a program on a real pseudo-terminal (so it sees a TTY and raw mode works) and types
 * `keystrokes` in order, each once its prompt has shown. `stdout` is everything the terminal
 * showed (the program's stdout and stderr together); `code` is the program's exit status.
 */
export function atTerminal(argv: readonly string[], keystrokes: readonly Keystrokes[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  const steps = keystrokes.map((k) => ({ after: k.after, type: Buffer.from(k.type).toString('hex') }));
  return run('python3', ['-c', DRIVER, JSON.stringify(steps), ...argv], { ...options, timeoutMs: 90_000 });
}

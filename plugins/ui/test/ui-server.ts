import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { kmxBin, stopChild, type TestUser } from '@kmx/core/testing';

// `kmx ui` as a child, for tests: started with --no-open (and optionally as another user, by
// setpriv, which execs, so the pid is the server's own), its URL read from its output.

export interface RunningUi {
  child: ChildProcess;
  url: string;
  port: number;
  token: string;
  output: () => string;
  stop(): Promise<void>;
}

export async function startUi(options: { args?: string[]; user?: TestUser; env?: NodeJS.ProcessEnv; open?: boolean } = {}): Promise<RunningUi> {
  const kmx = [kmxBin(), 'ui', ...(options.open ? [] : ['--no-open']), ...(options.args ?? [])];
  const env = { ...process.env };
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  Object.assign(env, options.env);
  const child = options.user
    ? spawn('setpriv', [`--reuid=${options.user.uid}`, `--regid=${options.user.gid}`, '--init-groups', '--', process.execPath, ...kmx], { env: { ...env, HOME: options.user.home, USER: options.user.name, XDG_RUNTIME_DIR: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, kmx, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async (): Promise<void> => {
    await stopChild(child, 5000);
    // A test user's runtime directory (no XDG_RUNTIME_DIR: /tmp/kmx-UID) outlives userdel.
    if (options.user) await rm(`/tmp/kmx-${options.user.uid}`, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kmx ui printed no URL in 20 s: ${output}`)), 20_000);
      const look = (): void => {
        const match = /serving on (?:UNIX socket \S+ \(0600\): )?(http:\/\/\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout!.on('data', look);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`kmx ui exited ${code}: ${output}`));
      });
    });
    const parsed = new URL(url);
    return { child, url, port: Number(parsed.port || 80), token: parsed.searchParams.get('token') ?? '', output: () => output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with exactly the headers given (no Host added unless given). */
export function httpRequest(target: { port?: number; socketPath?: string }, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', ...target, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {}, setHost: false, agent: false,
    }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A signed-in session: the cookie the server set in exchange for the token. */
export async function signIn(ui: RunningUi, target: { port?: number; socketPath?: string } = { port: ui.port }, host = `127.0.0.1:${ui.port}`): Promise<string> {
  const reply = await httpRequest(target, { path: `/?token=${ui.token}`, headers: { Host: host } });
  const cookie = reply.headers['set-cookie']?.[0];
  if (reply.status !== 303 || cookie === undefined) throw new Error(`sign-in failed: ${reply.status}`);
  return cookie.split(';')[0]!;
}

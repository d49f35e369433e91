import { spawn } from 'node:child_process';
import { request } from 'node:http';
import type { Hook } from '@oclif/core';
import type { Tour } from '@kmx/core';

/** The URL `kmx ui` prints once it listens. */
function urlOf(output: () => string, exited: () => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 30_000;
    const poll = (): void => {
      const match = /(http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(output());
      if (match) return resolve(match[1]!);
      if (exited() || Date.now() > deadline) return reject(new Error(`kmx ui did not start: ${output()}`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

/** One GET, as a browser's navigation would send it; the status and the headers that matter here. */
function get(url: URL, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'none', ...headers } }, (res) => {
      res.resume();
      const cookie = res.headers['set-cookie']?.[0]?.replace(/=[^;]+/, '=…');
      resolve([`HTTP ${res.statusCode}`, cookie ? `Set-Cookie: ${cookie}` : '', res.headers.location ? `Location: ${res.headers.location}` : ''].filter(Boolean).join('; '));
    });
    req.once('error', reject);
    req.end();
  });
}

/** kmx ui in the tour: the server started without a browser, and what it lets in and keeps out. */
const hook: Hook<'kmx-tour'> = async function (options) {
  const tour = (options as unknown as { tour: Tour }).tour;
  tour.section('kmx ui: mounts, namespaces and clusters in a local web page');
  tour.say('$ kmx ui --no-open &');
  const env = { ...process.env };
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  const ui = spawn(process.execPath, [process.argv[1]!, 'ui', '--no-open'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  ui.stdout.on('data', (d: Buffer) => (output += d.toString()));
  ui.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const url = new URL(await urlOf(() => output, () => ui.exitCode !== null));
    const token = url.searchParams.get('token') ?? '';
    tour.say(output.trim().replaceAll(token, '<token>'));
    tour.say('Opening the printed URL swaps its token for an HttpOnly, SameSite=Strict cookie:');
    tour.say(`  GET /?token=<token>               -> ${await get(url, {})}`);
    const bare = new URL('/', url);
    tour.say('Without it, or through a name that an attacker points at 127.0.0.1 (DNS rebinding), nothing gets in:');
    tour.say(`  GET / (no token, no cookie)        -> ${await get(bare, {})}`);
    tour.say(`  GET /?token=<token>, Host: evil.example -> ${await get(url, { host: `evil.example:${url.port}` })}`);
    tour.say('It listens on 127.0.0.1 only, and refuses connections from processes of any other user.');
  } finally {
    ui.kill('SIGTERM');
    if (ui.exitCode === null) await new Promise((resolve) => ui.once('exit', resolve));
  }
};

export default hook;

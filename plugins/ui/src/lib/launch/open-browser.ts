import { spawn } from 'node:child_process';
import { access, constants, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** Whether there is a desktop to open a browser on: $DISPLAY or $WAYLAND_DISPLAY, and xdg-open. */
export async function desktopOpener(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return undefined;
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir, 'xdg-open');
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return undefined;
}

/**
 * Opens `url` with xdg-open, through a launch file: a page in the user's private runtime
 * directory (0600) that forwards to the URL. The token then never appears in a process's
 * arguments, which every user on the machine can read in /proc.
 */
export async function openInBrowser(opener: string, url: string, launchFile: string): Promise<void> {
  const escaped = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  await writeFile(launchFile, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${escaped}"><title>kmx ui</title>\n`, { mode: 0o600 });
  const child = spawn(opener, [launchFile], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

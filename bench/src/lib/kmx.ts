import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export function kmxBin(): string {
  return join(dirname(require.resolve('kmx/package.json')), 'bin', 'run.js');
}

/** `kmx ARGS`, synchronously; kmx mounts are served by their own (daemon) process, so this is safe. */
export function kmx(args: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync(process.execPath, [kmxBin(), ...args], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`kmx ${args.join(' ')} failed: ${stderr || String(err)}`);
  }
}

/** Mounts with `kmx <command> --daemon …`, runs `body`, and always unmounts. */
export function withKmxMount<T>(args: readonly string[], mountpoint: string, body: () => T, env: NodeJS.ProcessEnv = {}): T {
  kmx([...args, '--daemon'], env);
  try {
    return body();
  } finally {
    kmx(['umount', mountpoint]);
  }
}

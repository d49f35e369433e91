import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmxError } from '../errors/index.js';
import { readMountinfo } from '../mount/mountinfo.js';
import { unmountPath } from '../mount/unmount.js';

/** The hook event through which each plugin adds its part to `kmx tour`. */
export const TOUR_HOOK = 'kmx-tour';

export interface TourOptions {
  /** Path of the kmx executable to demonstrate (the one running the tour). */
  kmx: string;
  write: (text: string) => void;
}

/**
 * A guided run of kmx on embedded defaults: each step prints the command it runs and that
 * command's output, as a user would see them. A failing step fails the tour. Everything the
 * tour creates lives in one temporary directory, removed (after unmounting anything left in
 * it) at the end, whatever happened.
 */
export class Tour {
  private workspace: string | undefined;

  constructor(private readonly options: TourOptions) {}

  /** The tour's scratch directory. */
  async dir(): Promise<string> {
    this.workspace ??= await mkdtemp(join(tmpdir(), 'kmx-tour-'));
    return this.workspace;
  }

  section(title: string): void {
    this.options.write(`\n== ${title} ==\n`);
  }

  say(text: string): void {
    this.options.write(`${text}\n`);
  }

  /** Runs `kmx ARGS`, shown as `$ kmx ARGS`. */
  kmx(args: readonly string[], expectExit = 0): Promise<string> {
    return this.run(process.execPath, [this.options.kmx, ...args], `kmx ${args.join(' ')}`, expectExit);
  }

  /** Runs a shell command line, shown as typed. */
  shell(command: string, expectExit = 0): Promise<string> {
    return this.run('/bin/sh', ['-c', command], command, expectExit);
  }

  private run(program: string, args: readonly string[], shown: string, expectExit: number): Promise<string> {
    this.options.write(`$ ${shown}\n`);
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.workspace });
      let output = '';
      const collect = (d: Buffer): void => {
        output += d.toString();
        this.options.write(d.toString());
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === expectExit) resolve(output);
        else reject(new KmxError(`tour step failed (${signal ?? `exit code ${code}`}): ${shown}`));
      });
    });
  }

  /** Unmounts whatever the tour left mounted and removes its directory. */
  async cleanUp(): Promise<void> {
    if (!this.workspace) return;
    const dir = this.workspace;
    const left = (await readMountinfo()).map((m) => m.mountpoint).filter((p) => p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
    for (const mountpoint of left) await unmountPath(mountpoint, { lazy: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

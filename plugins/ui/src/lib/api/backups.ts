import { spawn, type ChildProcess } from 'node:child_process';
import { ApiError, booleanField, fieldsOf, stringField } from '../server/routes.js';
import type { KmxExecutable } from './kmx-child.js';

// Backup jobs (`kmx nfs backup`). The backup library keeps no record of its runs: a run's
// progress goes only to its own output ("progress: N%, …" every few seconds when piped, and
// its report lines). So the page lists the jobs this server started, with their last lines,
// and cannot see runs started elsewhere; it says so.

export interface BackupJob {
  id: number;
  source: string;
  target: string;
  watch: boolean;
  state: 'running' | 'done' | 'failed' | 'stopped';
  startedAt: string;
  /** The last progress line ("progress: 42%, 12.0 MiB, 3.1MB/s"), if any came. */
  progress: string | null;
  /** The last lines the job reported, oldest first. */
  lines: string[];
}

const KEPT_LINES = 20;

export class BackupJobs {
  private readonly jobs = new Map<number, { job: BackupJob; child: ChildProcess }>();
  private nextId = 1;

  constructor(private readonly kmx: KmxExecutable) {}

  list(): { jobs: BackupJob[]; note: string } {
    return {
      jobs: [...this.jobs.values()].map((j) => j.job),
      note: 'Only jobs started from this page are listed: kmx nfs backup keeps no record of its runs, and reports progress only on its own output.',
    };
  }

  start(body: unknown): BackupJob {
    const fields = fieldsOf(body);
    const source = stringField(fields, 'source', { required: true })!;
    const target = stringField(fields, 'target', { required: true })!;
    for (const [name, value] of [['source', source], ['target', target]] as const) {
      if (!value.startsWith('/')) throw new ApiError(400, `${name} must be an absolute path`);
    }
    const watch = booleanField(fields, 'watch');
    const args = ['nfs', 'backup', ...(watch ? ['--watch'] : []), ...(booleanField(fields, 'delete') ? ['--delete'] : []), source, target];
    const child = spawn(this.kmx.node, [this.kmx.script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    const job: BackupJob = { id: this.nextId++, source, target, watch, state: 'running', startedAt: new Date().toISOString(), progress: null, lines: [] };
    const take = (chunk: Buffer): void => {
      for (const raw of chunk.toString('utf8').split('\n')) {
        const line = raw.replace(/^kmx nfs backup: /, '').trim();
        if (line === '') continue;
        if (line.startsWith('progress:')) job.progress = line;
        else job.lines = [...job.lines, line].slice(-KEPT_LINES);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (err) => {
      job.state = 'failed';
      job.lines = [...job.lines, err.message].slice(-KEPT_LINES);
    });
    child.on('exit', (code, signal) => {
      if (job.state === 'running') job.state = signal === 'SIGTERM' || code === 130 || code === 143 ? 'stopped' : code === 0 ? 'done' : 'failed';
    });
    this.jobs.set(job.id, { job, child });
    return job;
  }

  stop(id: string): BackupJob {
    const entry = this.jobs.get(Number(id));
    if (!entry) throw new ApiError(404, `no backup job ${id}`);
    if (entry.job.state === 'running') entry.child.kill('SIGTERM');
    return entry.job;
  }

  /** Stops every running job (the server is going away; a job is its child). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.jobs.values()].filter((j) => j.child.exitCode === null && j.child.signalCode === null).map((j) => new Promise<void>((resolve) => {
      j.child.once('exit', () => resolve());
      j.child.kill('SIGTERM');
    })));
  }
}

import { spawn } from 'node:child_process';
import { KmxError } from '@kmx/core';

/** SVG from DOT through Graphviz's `dot`; says how to get it when it is not installed. */
export function renderSvg(dot: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('dot', ['-Tsvg'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT'
        ? new KmxError('cannot draw SVG: Graphviz is not installed (no `dot` in PATH)', { hint: 'install it with `apt-get install graphviz`, or use --format dot' })
        : new KmxError(`cannot run dot: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new KmxError(`dot failed (${code ?? signal}): ${err.trim().split('\n')[0] ?? ''}`));
    });
    child.stdin.on('error', () => undefined); // dot gone early: its exit status tells why
    child.stdin.end(dot);
  });
}

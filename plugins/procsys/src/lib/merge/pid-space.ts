/**
 * How pids of several hosts share one /proc: host slot k (its place in the host list) owns
 * pids k·2^22 + 1 … k·2^22 + 2^22−1, so the host in slot 0 keeps its own numbers and every
 * merged pid still fits the 31 bits tools expect. 2^22 is the kernel's largest pid_max.
 */
export const PID_SPACE = 1 << 22;
export const MAX_HOSTS = 512;

export function encodePid(slot: number, pid: number): number {
  return pid <= 0 ? pid : slot * PID_SPACE + pid;
}

export function decodePid(merged: number): { slot: number; pid: number } {
  return { slot: Math.floor(merged / PID_SPACE), pid: merged % PID_SPACE };
}

/** A merged pid directory name ('12582913'), or undefined for anything else. */
export function parsePidName(name: string): number | undefined {
  if (!/^[1-9]\d{0,9}$/.test(name)) return undefined;
  const n = Number(name);
  return n < MAX_HOSTS * PID_SPACE ? n : undefined;
}

/**
 * /proc/PID/stat with every pid field (pid, ppid, pgrp, session, tpgid) moved into the
 * host's slot, and starttime (ticks since that host booted) moved to ticks since the merged
 * boot time, so that ps computes the right start time and %CPU.
 */
export function rewriteStat(text: string, slot: number, tickShift: number): string {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return text;
  const pid = Number(text.slice(0, open).trim());
  const fields = text.slice(close + 2).replace(/\n$/, '').split(' ');
  for (const index of [1, 2, 3, 5]) {
    const value = Number(fields[index]);
    if (Number.isInteger(value) && value > 0) fields[index] = String(encodePid(slot, value));
  }
  if (tickShift !== 0 && fields[19] !== undefined) fields[19] = String(Number(fields[19]) + tickShift);
  return `${encodePid(slot, pid)} ${text.slice(open, close + 1)} ${fields.join(' ')}\n`;
}

const STATUS_PIDS = /^(Tgid|Pid|PPid|TracerPid|NStgid|NSpid|NSpgid|NSsid):(\s*)(\d+)/gm;

/** /proc/PID/status with Tgid, Pid, PPid, TracerPid and the first NS* value in the host's slot. */
export function rewriteStatus(text: string, slot: number): string {
  return text.replace(STATUS_PIDS, (_all, key: string, space: string, value: string) => `${key}:${space}${encodePid(slot, Number(value))}`);
}

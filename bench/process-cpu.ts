/**
 * What the benches read of another process from /proc (Linux): its CPU time and its RSS.
 * One reader for every bench, so their CPU figures are the same measure.
 */
import { readFileSync, readdirSync } from 'node:fs';

/**
 * CPU time of a process so far, all its threads, in ns: the first field of each thread's
 * schedstat (ns, where /proc/PID/stat counts 10 ms ticks). A thread that has ended is no longer
 * listed, so a reading spans threads that live through it (the relay's and the agent's do).
 */
export function cpuNs(pid: number): number {
  let ns = 0;
  let read = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      read++;
    } catch {
      /* the thread ended meanwhile */
    }
  }
  // A kernel without scheduler statistics would otherwise read as a process that used no CPU.
  if (read === 0 || !Number.isFinite(ns)) throw new Error(`bench: no CPU time readable for process ${pid} (/proc/${pid}/task/*/schedstat)`);
  return ns;
}

/** Resident set size of a process, in bytes. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`bench: no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

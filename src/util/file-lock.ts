/**
 * A lock file shared by processes of one user: created with O_EXCL, holding "pid token".
 * Node has no flock(), so a lock left by a dead process is taken over explicitly: rename it
 * to a unique name (atomic; only one contender can win a given file), then check that what we
 * moved is the stale lock we judged (same pid and token). If a live lock was moved instead (a
 * contender had already replaced the stale one), it is linked back; only a second race
 * inside that instant could still cost an update.
 */
import { openSync, writeSync, closeSync, readFileSync, rmSync, renameSync, linkSync, statSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LatchError } from './latch-error.js';

export async function withFileLock<T>(lockPath: string, fn: () => T | Promise<T>, opts: { timeoutMs?: number; what?: string } = {}): Promise<T> {
  mkdirSync(dirname(lockPath), { recursive: true, mode: 0o700 });
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      try {
        writeSync(fd, token);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readHolder(lockPath);
      if (holder !== undefined && isStale(holder, lockPath)) {
        takeOver(lockPath, holder);
        continue;
      }
      if (Date.now() > deadline) {
        throw new LatchError('locked', `${opts.what ?? lockPath} is locked by another process (${lockPath}); try again`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    // Remove only our own lock.
    if (readHolder(lockPath) === token) rmSync(lockPath, { force: true });
  }
}

function readHolder(lockPath: string): string | undefined {
  try {
    return readFileSync(lockPath, 'utf8');
  } catch {
    return undefined;
  }
}

function isStale(holder: string, lockPath: string): boolean {
  const pid = Number(holder.split(' ')[0]);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    // Unreadable content: a writer died between create and write. Give it a moment.
    try {
      return Date.now() - statSync(lockPath).mtimeMs > 5000;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function takeOver(lockPath: string, staleHolder: string): void {
  const moved = `${lockPath}.stale-${randomBytes(6).toString('hex')}`;
  try {
    renameSync(lockPath, moved);
  } catch {
    return; // someone else moved it first
  }
  if (readHolder(moved) !== staleHolder) {
    // We moved a live lock that replaced the stale one: put it back.
    try {
      linkSync(moved, lockPath);
    } catch {
      /* the slot was taken again meanwhile; that holder keeps it */
    }
  }
  rmSync(moved, { force: true });
}

/**
 * A lock file shared by processes of one user: created with O_EXCL, holding "pid token".
 * Node has no flock(), so a lock left by a dead process is taken over explicitly: rename it
 * to a unique name (atomic; only one contender can win a given file), then check that what we
 * moved is the stale lock we judged (same pid and token). If a live lock was moved instead (a
 * contender had already replaced the stale one), it is linked back; only a second race
 * inside that instant could still cost an update.
 */
import { openSync, writeSync, closeSync, readFileSync, rmSync, renameSync, linkSync, statSync, fstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LatchError } from './latch-error.js';

/**
 * Holders and waiters of each lock in this process. They queue on a promise rather than on the
 * file: a request of `latch device run` that comes while its own journal fold holds the keystore
 * lock starts the moment the fold is done, not at the next 25 ms poll (issue 9).
 */
const inProcess = new Map<string, Promise<void>>();

export async function withFileLock<T>(lockPath: string, fn: () => T | Promise<T>, opts: { timeoutMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  const locked = (): LatchError => new LatchError('locked', `${opts.what ?? lockPath} is locked by another process (${lockPath}); try again`);
  const before = inProcess.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  // Whoever queues next waits for the ones before this caller too, even if this one gives up.
  const tail = before.then(() => mine);
  inProcess.set(lockPath, tail);
  try {
    // Bounded like the wait for another process: a caller that takes the lock it already holds
    // (a bug) gets 'locked' after the timeout instead of waiting forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const busy = (): LatchError => new LatchError('locked', `${opts.what ?? lockPath} is still in use by this process (${lockPath}); try again`);
    await Promise.race([before, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(busy()), Math.max(0, deadline - Date.now()))))]).finally(() => clearTimeout(timer));
    return await withLockFile(lockPath, fn, deadline, locked);
  } finally {
    release();
    if (inProcess.get(lockPath) === tail) inProcess.delete(lockPath);
  }
}

async function withLockFile<T>(lockPath: string, fn: () => T | Promise<T>, deadline: number, locked: () => LatchError): Promise<T> {
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`;
  // Held open while the lock is ours: an open file's inode cannot be reused, so "the path still
  // names our file" is one stat compared with this fd's (cheaper than reading the token back, on
  // a path every authenticator request takes twice, issue 9).
  let fd: number;
  let madeDir = false;
  for (let attempt = 0; ; attempt++) {
    try {
      fd = openSync(lockPath, 'wx', 0o600);
      try {
        writeSync(fd, token);
      } catch (e) {
        closeSync(fd);
        rmSync(lockPath, { force: true });
        throw e;
      }
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !madeDir) {
        // The directory is made when it is missing, not on every request.
        mkdirSync(dirname(lockPath), { recursive: true, mode: 0o700 });
        madeDir = true;
        continue;
      }
      if (code !== 'EEXIST') throw e;
      const holder = readHolder(lockPath);
      if (holder !== undefined && isStale(holder, lockPath)) {
        takeOver(lockPath, holder);
        continue;
      }
      if (Date.now() > deadline) throw locked();
      // Another process holds it, mostly for a few milliseconds (one journal append): poll soon
      // at first, then every 25 ms.
      await new Promise((r) => setTimeout(r, Math.min(25, 2 ** attempt)));
    }
  }
  try {
    return await fn();
  } finally {
    // Remove only our own lock: not one that another process took over (as stale) and replaced.
    // A file system whose inode numbers do not match (some network mounts) gets the token check.
    // A failed release is not the caller's failure: fn's work is done (as before, it is left to
    // the stale-lock takeover).
    try {
      const mine = fstatSync(fd, { bigint: true });
      const now = statSync(lockPath, { bigint: true, throwIfNoEntry: false });
      if (now !== undefined && ((now.ino === mine.ino && now.dev === mine.dev) || readHolder(lockPath) === token)) unlinkSync(lockPath);
    } catch {
      /* see above */
    } finally {
      closeSync(fd);
    }
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

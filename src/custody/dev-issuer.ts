/**
 * The built-in development issuer: one-time login codes, delivered by a pluggable mailer, so
 * login works on a fresh machine with no outside service. The default mailer writes the code
 * to the server log and to DATA/outbox/<email>.txt. Codes are 6 digits, valid 10 minutes,
 * stored only as a hash.
 *
 * Guessing (issue 15 §3, docs/CUSTODY.md "Login"): wrong codes are counted per email, not per
 * code, and a new /login/start neither resets that count nor voids codes already sent (each
 * start adds a code with its own challenge, at most MAX_PENDING_CODES at once). Every
 * MAX_TRIES wrong codes lock the email's logins for a backoff that doubles each time
 * (LOCK_BASE_SECONDS .. LOCK_MAX_SECONDS); a right code clears the count. With the per-IP and
 * per-email rate limits of custody-http.ts this bounds an attacker to a few guesses an hour.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CustodyDb } from './custody-db.js';
import { LatchError } from '../util/latch-error.js';
import { RetryLaterError } from './retry-later-error.js';

export interface Mailer {
  send(email: string, subject: string, body: string): Promise<void>;
}

export function outboxMailer(dataDir: string, log: (line: string) => void): Mailer {
  return {
    async send(email, subject, body) {
      const dir = join(dataDir, 'outbox');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, outboxFileName(email)), `${subject}\n${body}\n`, { mode: 0o600 });
      log(`mail to ${email}: ${subject}: ${body}`);
    },
  };
}

/**
 * `<email>.txt`, or `<sha256 hex of the email>.txt` when that would pass the 255-byte file name
 * limit of common file systems (an address may have 254 characters, RFC 5321 §4.5.3.1).
 */
export function outboxFileName(email: string): string {
  const plain = `${email}.txt`;
  return Buffer.byteLength(plain) <= 255 ? plain : `${createHash('sha256').update(email).digest('hex')}.txt`;
}

const CODE_TTL_SECONDS = 600;
const MAX_TRIES = 5;
const MAX_PENDING_CODES = 5;
const LOCK_BASE_SECONDS = 60;
const LOCK_MAX_SECONDS = 3600;
/** RFC 5321 §4.5.3.1: local part at most 64 octets, domain at most 255, a path at most 256 (so an address fits 254). */
const EMAIL = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$/;
const MAX_EMAIL_LENGTH = 254;

export function parseEmail(text: unknown): string {
  if (typeof text !== 'string' || text.length > MAX_EMAIL_LENGTH || !EMAIL.test(text)) throw new LatchError('bad_email', `email must be an address like ada@example.com, at most ${MAX_EMAIL_LENGTH} characters`);
  return text.toLowerCase();
}

export async function migrateDevIssuer(db: CustodyDb): Promise<void> {
  const int = db.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
  await db.exec(`${db.dialect === 'sqlite' ? 'DROP TABLE IF EXISTS login_codes;' : ''}
    CREATE TABLE IF NOT EXISTS login_codes_v2 (code_hash TEXT PRIMARY KEY, email TEXT NOT NULL, challenge TEXT NOT NULL, expires_at ${int} NOT NULL);
    CREATE INDEX IF NOT EXISTS login_codes_v2_email ON login_codes_v2 (email);
    CREATE TABLE IF NOT EXISTS login_guard (email TEXT PRIMARY KEY, failures INTEGER NOT NULL, lockouts INTEGER NOT NULL, locked_until ${int} NOT NULL);`);
}

const GUARD_UPSERT = 'INSERT INTO login_guard (email, failures, lockouts, locked_until) VALUES (?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET failures = excluded.failures, lockouts = excluded.lockouts, locked_until = excluded.locked_until';
const h = (s: string): Buffer => createHash('sha256').update(s).digest();
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export class DevIssuer {
  constructor(private readonly db: CustodyDb, private readonly mailer: Mailer) {}

  /** Sends a code; returns the 32-byte challenge the device key signs to complete. */
  async start(emailText: unknown): Promise<Uint8Array> {
    const email = parseEmail(emailText);
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const challenge = randomBytes(32);
    const now = nowSeconds();
    await this.db.tx(async (q) => {
      // Per email across nodes: two starts must not both pass the pending-codes cap.
      await q.lock(`login:${email}`);
      await q.run('DELETE FROM login_codes_v2 WHERE expires_at < ?', now);
      const pending = (await q.get<{ n: number; first: number | null }>('SELECT COUNT(*) AS n, MIN(expires_at) AS first FROM login_codes_v2 WHERE email = ?', email))!;
      // Codes already sent stay valid: a stranger's start must not void the owner's code.
      if (pending.n >= MAX_PENDING_CODES) throw new RetryLaterError('too_many_codes', `${MAX_PENDING_CODES} login codes for this email are still pending; use one of them or wait`, Math.max(1, (pending.first ?? now) - now));
      await q.run(
        'INSERT INTO login_codes_v2 (code_hash, email, challenge, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (code_hash) DO UPDATE SET email = excluded.email, challenge = excluded.challenge, expires_at = excluded.expires_at',
        h(`${email}:${code}`).toString('hex'), email, challenge.toString('hex'), now + CODE_TTL_SECONDS,
      );
    });
    await this.mailer.send(email, 'Your Latch login code', code);
    return new Uint8Array(challenge);
  }

  /** Checks and burns the code; returns the email and the challenge it was issued with. */
  async finish(emailText: unknown, code: unknown): Promise<{ email: string; challenge: Uint8Array }> {
    const email = parseEmail(emailText);
    if (typeof code !== 'string' || !/^[0-9]{6}$/.test(code)) throw new LatchError('bad_code', 'the code is 6 digits');
    const now = nowSeconds();
    const out = await this.db.tx(async (q): Promise<{ challenge: string } | RetryLaterError | undefined> => {
      // Per email across nodes: guesses on two nodes at once are all counted.
      await q.lock(`login:${email}`);
      const guard = await q.get<{ failures: number; lockouts: number; locked_until: number }>('SELECT * FROM login_guard WHERE email = ?', email);
      if (guard && guard.locked_until > now) {
        return new RetryLaterError('login_locked', `too many wrong codes for this email; try again in ${guard.locked_until - now} s`, guard.locked_until - now);
      }
      const row = await q.get<{ code_hash: string; challenge: string; expires_at: number }>('SELECT * FROM login_codes_v2 WHERE code_hash = ? AND email = ?', h(`${email}:${code}`).toString('hex'), email);
      if (row && row.expires_at >= now) {
        await q.run('DELETE FROM login_codes_v2 WHERE code_hash = ?', row.code_hash);
        await q.run('DELETE FROM login_guard WHERE email = ?', email);
        return { challenge: row.challenge };
      }
      const failures = (guard?.failures ?? 0) + 1;
      if (failures >= MAX_TRIES) {
        const lockouts = (guard?.lockouts ?? 0) + 1;
        const lock = Math.min(LOCK_MAX_SECONDS, LOCK_BASE_SECONDS * 2 ** (lockouts - 1));
        await q.run(GUARD_UPSERT, email, 0, lockouts, now + lock);
      } else {
        await q.run(GUARD_UPSERT, email, failures, guard?.lockouts ?? 0, 0);
      }
      return undefined;
    });
    if (out instanceof RetryLaterError) throw out;
    if (!out) throw new LatchError('bad_code', 'wrong or expired code; ask for a new one with `latch login --email`', { status: 401 });
    return { email, challenge: Uint8Array.from(Buffer.from(out.challenge, 'hex')) };
  }
}

/**
 * The built-in development issuer: one-time login codes, delivered by a pluggable mailer, so
 * login works on a fresh machine with no outside service. The default mailer writes the code
 * to the server log and to DATA/outbox/<email>.txt. Codes are 6 digits, valid 10 minutes,
 * stored only as a hash, and burnt after 5 wrong tries.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { LatchError } from '../util/latch-error.js';

export interface Mailer {
  send(email: string, subject: string, body: string): Promise<void>;
}

export function outboxMailer(dataDir: string, log: (line: string) => void): Mailer {
  return {
    async send(email, subject, body) {
      const dir = join(dataDir, 'outbox');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, `${email}.txt`), `${subject}\n${body}\n`, { mode: 0o600 });
      log(`mail to ${email}: ${subject}: ${body}`);
    },
  };
}

const CODE_TTL_SECONDS = 600;
const MAX_TRIES = 5;
const EMAIL = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$/;

export function parseEmail(text: unknown): string {
  if (typeof text !== 'string' || !EMAIL.test(text)) throw new LatchError('bad_email', 'email must be an address like ada@example.com');
  return text.toLowerCase();
}

export function migrateDevIssuer(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS login_codes (
    email TEXT PRIMARY KEY, code_hash TEXT NOT NULL, challenge TEXT NOT NULL, expires_at INTEGER NOT NULL, tries INTEGER NOT NULL)`);
}

const h = (s: string): Buffer => createHash('sha256').update(s).digest();

export class DevIssuer {
  constructor(private readonly db: Database.Database, private readonly mailer: Mailer) {}

  /** Sends a code; returns the 32-byte challenge the device key signs to complete. */
  async start(emailText: unknown): Promise<Uint8Array> {
    const email = parseEmail(emailText);
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const challenge = randomBytes(32);
    this.db
      .prepare('INSERT OR REPLACE INTO login_codes (email, code_hash, challenge, expires_at, tries) VALUES (?, ?, ?, ?, 0)')
      .run(email, h(`${email}:${code}`).toString('hex'), challenge.toString('hex'), Math.floor(Date.now() / 1000) + CODE_TTL_SECONDS);
    await this.mailer.send(email, 'Your Latch login code', code);
    return new Uint8Array(challenge);
  }

  /** Checks and burns the code; returns the email and the challenge it was issued with. */
  finish(emailText: unknown, code: unknown): { email: string; challenge: Uint8Array } {
    const email = parseEmail(emailText);
    if (typeof code !== 'string' || !/^[0-9]{6}$/.test(code)) throw new LatchError('bad_code', 'the code is 6 digits');
    const row = this.db.prepare('SELECT * FROM login_codes WHERE email = ?').get(email) as
      | { code_hash: string; challenge: string; expires_at: number; tries: number }
      | undefined;
    const wrong = (): never => {
      throw new LatchError('bad_code', 'wrong or expired code; ask for a new one with `latch login --email`', { status: 401 });
    };
    if (!row || row.expires_at < Date.now() / 1000 || row.tries >= MAX_TRIES) wrong();
    if (!timingSafeEqual(Buffer.from(row!.code_hash, 'hex'), h(`${email}:${code}`))) {
      this.db.prepare('UPDATE login_codes SET tries = tries + 1 WHERE email = ?').run(email);
      wrong();
    }
    this.db.prepare('DELETE FROM login_codes WHERE email = ?').run(email);
    return { email, challenge: Uint8Array.from(Buffer.from(row!.challenge, 'hex')) };
  }
}

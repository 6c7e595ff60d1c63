/**
 * PushSubscriptionStore on SQLite, in the relay's data dir (`push.sqlite`). A lost write here
 * costs one missed wake-up, never a message, so it runs with synchronous=NORMAL.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { PushSubscriptionRecord, PushSubscriptionStore } from './push-subscription-store.js';

export const PUSH_DB_FILE = 'push.sqlite';

interface Row {
  endpoint: string;
  p256dh: string;
  auth: string;
  registered_at: number;
}

export class SqlitePushSubscriptionStore implements PushSubscriptionStore {
  readonly #db: Database.Database;
  readonly #set: Database.Statement;
  readonly #get: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #deleteIf: Database.Statement;

  constructor(opts: { dataDir: string }) {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    this.#db = new Database(join(opts.dataDir, PUSH_DB_FILE));
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(`CREATE TABLE IF NOT EXISTS push_subscriptions (
      queue TEXT PRIMARY KEY, endpoint TEXT NOT NULL, p256dh TEXT NOT NULL, auth TEXT NOT NULL, registered_at INTEGER NOT NULL)`);
    this.#set = this.#db.prepare(
      `INSERT INTO push_subscriptions (queue, endpoint, p256dh, auth, registered_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(queue) DO UPDATE SET endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth, registered_at = excluded.registered_at`,
    );
    this.#get = this.#db.prepare('SELECT endpoint, p256dh, auth, registered_at FROM push_subscriptions WHERE queue = ?');
    this.#delete = this.#db.prepare('DELETE FROM push_subscriptions WHERE queue = ?');
    this.#deleteIf = this.#db.prepare('DELETE FROM push_subscriptions WHERE queue = ? AND endpoint = ?');
  }

  async set(queue: string, sub: PushSubscriptionRecord): Promise<void> {
    this.#set.run(queue, sub.endpoint, sub.p256dh, sub.auth, sub.registeredAt);
  }

  async get(queue: string): Promise<PushSubscriptionRecord | undefined> {
    const row = this.#get.get(queue) as Row | undefined;
    return row === undefined ? undefined : { endpoint: row.endpoint, p256dh: row.p256dh, auth: row.auth, registeredAt: row.registered_at };
  }

  async delete(queue: string, endpoint?: string): Promise<boolean> {
    const r = endpoint === undefined ? this.#delete.run(queue) : this.#deleteIf.run(queue, endpoint);
    return r.changes > 0;
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

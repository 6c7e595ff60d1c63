/**
 * Refresh token rotation (docs/CUSTODY.md "Tokens and login limits") on both custody stores,
 * through TokenService: a reuse revokes the family; a token presented again for an answer that
 * never arrived (a page reloaded between the server's rotation and its own write) gets a new
 * pair within the grace, and the lost successor, should it turn up, counts as a reuse.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir } from './helpers/latch-process.js';
import { dropCustodyDatabases, freshCustodyDatabase } from './helpers/custody-pg.js';
import type { CustodyDb } from '../src/custody/custody-db.js';
import { SqliteCustodyDb } from '../src/custody/sqlite-custody-db.js';
import { PostgresCustodyDb } from '../src/custody/postgres-custody-db.js';
import { TokenService, migrateTokens, type TokenServiceOptions } from '../src/custody/token-service.js';
import { isLatchError } from '../src/util/latch-error.js';

after(() => dropCustodyDatabases());

const unauthorized = (e: unknown): boolean => isLatchError(e) && e.code === 'unauthorized';
const caller = { email: 'ada@example.com', device: 'ab'.repeat(64) };

async function services(opts: TokenServiceOptions = {}): Promise<{ db: CustodyDb; tokens: TokenService; reuses: string[] }[]> {
  const dbs: CustodyDb[] = [SqliteCustodyDb.open(join(tempDir('tok'), 'c.sqlite')), await PostgresCustodyDb.open(await freshCustodyDatabase(), 'latch_custody', () => undefined)];
  const out = [];
  for (const db of dbs) {
    await migrateTokens(db);
    const reuses: string[] = [];
    const tokens = new TokenService(db, new Uint8Array(32).fill(7), 600, [], { isLiveKey: async () => true, onReuse: async (c) => void reuses.push(c.family) }, opts);
    out.push({ db, tokens, reuses });
  }
  return out;
}

test('a used refresh token back after its successor was used revokes the family, access tokens included', async () => {
  for (const { db, tokens, reuses } of await services()) {
    try {
      const p1 = await tokens.issue(caller);
      const p2 = await tokens.refresh(p1.refresh_token);
      const p3 = await tokens.refresh(p2.refresh_token);
      assert.equal((await tokens.verify(`Bearer ${p3.access_token}`)).email, caller.email, db.dialect);
      await assert.rejects(tokens.refresh(p1.refresh_token), unauthorized, db.dialect);
      assert.equal(reuses.length, 1, `${db.dialect}: audited as a reuse`);
      await assert.rejects(tokens.refresh(p3.refresh_token), unauthorized, `${db.dialect}: the newest token died with its family`);
      await assert.rejects(tokens.verify(`Bearer ${p3.access_token}`), unauthorized, db.dialect);
    } finally {
      await db.close();
    }
  }
});

test('a lost answer: the same refresh token again within the grace gets a new pair; the lost successor, if it turns up, is a reuse', async () => {
  for (const { db, tokens, reuses } of await services()) {
    try {
      const p1 = await tokens.issue(caller);
      const lost = await tokens.refresh(p1.refresh_token); // the page reloads before it stores this
      const again = await tokens.refresh(p1.refresh_token);
      assert.notEqual(again.refresh_token, lost.refresh_token, db.dialect);
      assert.equal(reuses.length, 0, db.dialect);
      // A retry of the retry (its answer lost too) still works, within the first use's grace.
      const third = await tokens.refresh(p1.refresh_token);
      const next = await tokens.refresh(third.refresh_token);
      assert.equal((await tokens.verify(`Bearer ${next.access_token}`)).email, caller.email, db.dialect);
      // The token whose successor is used is now spent for good.
      await assert.rejects(tokens.refresh(p1.refresh_token), unauthorized, db.dialect);
      assert.equal(reuses.length, 1, db.dialect);
    } finally {
      await db.close();
    }
  }
  for (const { db, tokens, reuses } of await services()) {
    try {
      const p1 = await tokens.issue(caller);
      const lost = await tokens.refresh(p1.refresh_token);
      const again = await tokens.refresh(p1.refresh_token);
      // Whoever shows the superseded successor is not the client that asked again: the family goes.
      await assert.rejects(tokens.refresh(lost.refresh_token), unauthorized, db.dialect);
      assert.equal(reuses.length, 1, db.dialect);
      await assert.rejects(tokens.refresh(again.refresh_token), unauthorized, db.dialect);
      await assert.rejects(tokens.verify(`Bearer ${again.access_token}`), unauthorized, db.dialect);
    } finally {
      await db.close();
    }
  }
});

test('after the grace, presenting a used refresh token again revokes the family even with its successor unseen', async () => {
  for (const { db, tokens, reuses } of await services({ reuseGraceSeconds: 0 })) {
    try {
      const p1 = await tokens.issue(caller);
      const p2 = await tokens.refresh(p1.refresh_token);
      // used_at has whole seconds: wait into the next one.
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
      await assert.rejects(tokens.refresh(p1.refresh_token), unauthorized, db.dialect);
      assert.equal(reuses.length, 1, db.dialect);
      await assert.rejects(tokens.refresh(p2.refresh_token), unauthorized, db.dialect);
    } finally {
      await db.close();
    }
  }
});

test('a SQLite custody database from before rotation keeps its refresh tokens, now single-use with the grace', async () => {
  const path = join(tempDir('tok-old'), 'c.sqlite');
  const old = new Database(path);
  // The refresh_tokens table as the first release made it: no family, no use count.
  old.exec('CREATE TABLE refresh_tokens (hash TEXT PRIMARY KEY, email TEXT NOT NULL, device TEXT NOT NULL, account TEXT, expires_at INTEGER NOT NULL)');
  const token = 'old-token-from-before-rotation';
  old.prepare('INSERT INTO refresh_tokens VALUES (?, ?, ?, NULL, ?)').run(createHash('sha256').update(token).digest('hex'), caller.email, caller.device, Math.floor(Date.now() / 1000) + 3600);
  old.close();
  const db = SqliteCustodyDb.open(path);
  try {
    await migrateTokens(db);
    const tokens = new TokenService(db, new Uint8Array(32).fill(7), 600, [], { isLiveKey: async () => true });
    const p2 = await tokens.refresh(token);
    await tokens.refresh(p2.refresh_token);
    await assert.rejects(tokens.refresh(token), unauthorized);
  } finally {
    await db.close();
  }
});

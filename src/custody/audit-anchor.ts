/**
 * The audit log's anchor (issue 15 §5, docs/CUSTODY.md "Audit chain"). The hash chain alone
 * shows edits, but not a truncation of its last rows, nor a chain rebuilt after deleting a row:
 * whoever can write the database can recompute every hash. So after every request that
 * appended to the log, the server signs the new head (seq, hash) with an Ed25519 key the
 * database writer cannot use (its seed is stored only wrapped under the master key, as the
 * server keys are) and appends the signed line to DATA/custody/audit-anchor.jsonl, a file
 * outside the database. `latch server audit verify` checks each line's signature and that the
 * database still holds every anchored head.
 *
 * Line: {"v":1,"seq":N,"head":"<64 hex>","at":"<ISO time>","sig":"<base64url Ed25519>"}, the
 * signature over UTF-8 "latch-audit-anchor-v1|N|<head>".
 *
 * On PostgreSQL (issue 10) every node shares the chain and the anchor key (its wrapped seed is
 * in the shared `meta`), and anchors the heads it saw into its own data dir's file: each node's
 * file is a signed record of the chain as that node left it, and `audit verify --data` of any
 * node checks the whole chain against that node's anchors.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { SqlQueries } from './custody-db.js';
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import type { Sodium } from '../protocol/sodium.js';
import type { KeyVault } from './master-key.js';

export const ANCHOR_FILE = 'audit-anchor.jsonl';
const SEED_META = 'audit_anchor_seed';
const PURPOSE = 'audit-anchor';

export interface AnchorLine {
  v: 1;
  seq: number;
  head: string;
  at: string;
  sig: string;
}

const signedText = (seq: number, head: string): Uint8Array => new TextEncoder().encode(`latch-audit-anchor-v1|${seq}|${head}`);

/** The anchor key, from its wrapped seed in `meta` (made on first use when `create`). */
export async function anchorKey(db: SqlQueries, vault: KeyVault, sodium: Sodium, create: boolean): Promise<{ publicKey: Uint8Array; privateKey: Uint8Array }> {
  let wrapped = (await db.get<{ v: string }>('SELECT v FROM meta WHERE k = ?', SEED_META))?.v;
  if (wrapped === undefined) {
    if (!create) throw new LatchError('no_anchor_key', 'this custody database has no audit anchor key (it was never opened by a server that anchors its log)');
    // Two nodes starting at once: the first seed stored wins, and both use it.
    await db.run('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING', SEED_META, await vault.wrap(sodium.randombytes_buf(32), PURPOSE));
    wrapped = (await db.get<{ v: string }>('SELECT v FROM meta WHERE k = ?', SEED_META))!.v;
  }
  return sodium.crypto_sign_seed_keypair(await vault.unwrap(wrapped, PURPOSE));
}

export function readAnchorLines(path: string): AnchorLine[] {
  if (!existsSync(path)) return [];
  const out: AnchorLine[] = [];
  for (const [i, text] of readFileSync(path, 'utf8').split('\n').entries()) {
    if (text.trim() === '') continue;
    let l: AnchorLine;
    try {
      l = JSON.parse(text) as AnchorLine;
    } catch {
      throw new LatchError('bad_anchor', `line ${i + 1} of the audit anchor is not JSON`);
    }
    if (l.v !== 1 || !Number.isSafeInteger(l.seq) || typeof l.head !== 'string' || !/^[0-9a-f]{64}$/.test(l.head) || typeof l.sig !== 'string') {
      throw new LatchError('bad_anchor', `line ${i + 1} of the audit anchor is malformed`);
    }
    out.push(l);
  }
  return out;
}

/** Appends a signed head whenever the log's head moved since the last one. */
export class AuditAnchor {
  #last: { seq: number; head: string } | undefined;
  /** Records one at a time, so lines go out in order. */
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly db: SqlQueries,
    private readonly sodium: Sodium,
    private readonly key: { publicKey: Uint8Array; privateKey: Uint8Array },
    private readonly path: string,
  ) {
    const lines = readAnchorLines(path);
    const l = lines[lines.length - 1];
    if (l) this.#last = { seq: l.seq, head: l.head };
  }

  static async open(db: SqlQueries, vault: KeyVault, sodium: Sodium, path: string): Promise<AuditAnchor> {
    return new AuditAnchor(db, sodium, await anchorKey(db, vault, sodium, true), path);
  }

  get publicKey(): string {
    return encodeBase64url(this.key.publicKey);
  }

  /** Anchors the current head (a no-op when it has not moved); returns it. */
  record(): Promise<{ seq: number; head: string } | undefined> {
    const next = this.#tail.then(() => this.#record());
    this.#tail = next.catch(() => undefined);
    return next;
  }

  async #record(): Promise<{ seq: number; head: string } | undefined> {
    const row = await this.db.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    // Another node may have anchored a later head meanwhile; this one never goes backwards.
    if (!row || (this.#last !== undefined && row.seq <= this.#last.seq)) return this.#last;
    const sig = this.sodium.crypto_sign_detached(signedText(row.seq, row.hash), this.key.privateKey);
    const line: AnchorLine = { v: 1, seq: row.seq, head: row.hash, at: new Date().toISOString(), sig: encodeBase64url(sig) };
    appendFileSync(this.path, JSON.stringify(line) + '\n', { mode: 0o600 });
    this.#last = { seq: row.seq, head: row.hash };
    return this.#last;
  }
}

export type AnchorVerdict = { ok: true; anchored: number; lastAnchoredSeq: number } | { ok: false; reason: string; seq?: number };

/**
 * Checks anchors against the database: every line signed by `publicKey`, in order, and every
 * anchored head still present as that row's hash.
 */
export async function verifyAnchors(db: SqlQueries, sodium: Sodium, publicKey: Uint8Array, lines: AnchorLine[]): Promise<AnchorVerdict> {
  const rows = (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit'))!.n;
  if (lines.length === 0) return rows === 0 ? { ok: true, anchored: 0, lastAnchoredSeq: 0 } : { ok: false, reason: 'the audit log has entries but no anchor file (deleted?)' };
  let prevSeq = 0;
  for (const l of lines) {
    let sigOk = false;
    try {
      sigOk = sodium.crypto_sign_verify_detached(decodeBase64url(l.sig), signedText(l.seq, l.head), publicKey);
    } catch {
      sigOk = false;
    }
    if (!sigOk) return { ok: false, seq: l.seq, reason: `the anchor of entry ${l.seq} is not signed by this server's anchor key` };
    if (l.seq < prevSeq) return { ok: false, seq: l.seq, reason: `the anchors go backwards at entry ${l.seq}` };
    prevSeq = l.seq;
    const row = await db.get<{ hash: string }>('SELECT hash FROM audit WHERE seq = ?', l.seq);
    if (!row) return { ok: false, seq: l.seq, reason: `entry ${l.seq} was anchored but is gone from the database (rows deleted or truncated)` };
    if (row.hash !== l.head) return { ok: false, seq: l.seq, reason: `entry ${l.seq} differs from its anchored hash (the chain was rewritten)` };
  }
  return { ok: true, anchored: lines.length, lastAnchoredSeq: prevSeq };
}

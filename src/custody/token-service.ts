/**
 * Who is calling: access JWTs (HS256, short-lived) and refresh tokens, each bound to a user
 * (the OIDC subject, here an email), a device (its custody public key) and, once there is one,
 * an account. ID tokens from configured OIDC issuers are checked against their JWKS (jose).
 *
 * Sessions (issue 15 §3, docs/CUSTODY.md "Tokens"):
 *   - every token pair belongs to a family (one login, join, recovery or account creation);
 *     access tokens carry it as `fam`, and every request checks that the family is live, so
 *     revoking a device kills its access tokens at once, not 10 minutes later;
 *   - a token bound to an account is issued, and accepted, only while the device's key of that
 *     account is live (`isLiveKey`);
 *   - refresh tokens rotate: each is good for one use; presenting a used one again means it
 *     was copied, and revokes the whole family (RFC 9700 §4.14.2, OAuth 2.0 Security BCP);
 *   - except for a lost answer: the same token again within REUSE_GRACE_SECONDS of its use, while
 *     the token it was exchanged for has never been presented, gets a new pair, and that unseen
 *     successor is marked used, so that if it does turn up later it counts as a reuse (a page
 *     reloaded, or a CLI killed, between the server's rotation and the client's write);
 *   - `exp`, `iat`, `sub` and `fam` are required claims (RFC 8725 §3.10: reject what is not
 *     expected), so no token without an expiry is ever accepted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { CustodyDb, SqlQueries } from './custody-db.js';
import { LatchError } from '../util/latch-error.js';
import { encodeBase64url } from '../protocol/base64url.js';
import type { TokenPair } from './custody-api.js';

const ISSUER = 'latch-custody';
const REFRESH_TTL_SECONDS = 30 * 24 * 3600;
/** Okta's default for the same allowance; long enough for a reload, short for a thief. */
const REUSE_GRACE_SECONDS = 30;

export interface Caller {
  email: string;
  /** Device custody public key, 128 hex digits. */
  device: string;
  account?: string;
}

export interface OidcIssuerConfig {
  issuer: string;
  audience: string;
  /** Defaults to ISSUER/.well-known/jwks.json */
  jwksUri?: string;
}

export interface TokenPolicy {
  /** Whether `device` holds a live (not revoked) device key of `account`. */
  isLiveKey(q: SqlQueries, account: string, device: string): Promise<boolean>;
  /** A used refresh token came back: its family was revoked. */
  onReuse?(c: Caller & { family: string }): Promise<void>;
}

export async function migrateTokens(db: CustodyDb): Promise<void> {
  if (db.dialect === 'postgres') {
    await db.exec(`CREATE TABLE IF NOT EXISTS refresh_tokens (
      hash TEXT PRIMARY KEY, email TEXT NOT NULL, device TEXT NOT NULL, account TEXT, expires_at BIGINT NOT NULL, family TEXT, used INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS token_families (id TEXT PRIMARY KEY, email TEXT NOT NULL, device TEXT NOT NULL, account TEXT,
        revoked INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);
      CREATE INDEX IF NOT EXISTS token_families_device ON token_families (device);
      ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS used_at BIGINT;
      ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS successor TEXT;`);
    return;
  }
  await db.exec(`CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY, email TEXT NOT NULL, device TEXT NOT NULL, account TEXT, expires_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS token_families (id TEXT PRIMARY KEY, email TEXT NOT NULL, device TEXT NOT NULL, account TEXT,
      revoked INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS token_families_device ON token_families (device);`);
  const cols = (await db.all<{ name: string }>('PRAGMA table_info(refresh_tokens)')).map((c) => c.name);
  if (!cols.includes('family')) {
    // Refresh tokens from before rotation: each becomes its own family, used 0 times.
    await db.tx(async (q) => {
      await q.run('ALTER TABLE refresh_tokens ADD COLUMN family TEXT');
      await q.run('ALTER TABLE refresh_tokens ADD COLUMN used INTEGER NOT NULL DEFAULT 0');
      await q.run('UPDATE refresh_tokens SET family = hash');
      await q.run(`INSERT OR IGNORE INTO token_families (id, email, device, account, revoked, created_at)
        SELECT hash, email, device, account, 0, strftime('%s','now') FROM refresh_tokens`);
    });
  }
  if (!cols.includes('successor')) {
    // For the lost-answer grace (TokenService.refresh): when a token was used, and for what.
    await db.tx(async (q) => {
      await q.run('ALTER TABLE refresh_tokens ADD COLUMN used_at INTEGER');
      await q.run('ALTER TABLE refresh_tokens ADD COLUMN successor TEXT');
    });
  }
}

const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');
const unauthorized = (message: string): LatchError => new LatchError('unauthorized', message, { status: 401 });

interface RefreshRow {
  hash: string;
  email: string;
  device: string;
  account: string | null;
  expires_at: number;
  family: string;
  used: number;
  used_at: number | null;
  /** Hash of the token this one was exchanged for; null for a superseded token. */
  successor: string | null;
}

export interface TokenServiceOptions {
  /** How long after its use a refresh token may come back for a lost answer (default 30 s). */
  reuseGraceSeconds?: number;
}

export class TokenService {
  readonly #jwks = new Map<string, JWTVerifyGetKey>();
  constructor(
    private readonly db: CustodyDb,
    private readonly secret: Uint8Array,
    private readonly accessTtlSeconds: number,
    private readonly issuers: OidcIssuerConfig[],
    private readonly policy: TokenPolicy,
    private readonly options: TokenServiceOptions = {},
  ) {}

  /** A new pair in a new family (a login, join, recovery or account creation). */
  async issue(c: Caller): Promise<TokenPair> {
    const family = encodeBase64url(randomBytes(16));
    const refresh = await this.db.tx(async (q) => {
      await this.#requireLive(q, c);
      await q.run('INSERT INTO token_families (id, email, device, account, revoked, created_at) VALUES (?, ?, ?, ?, 0, ?)', family, c.email, c.device, c.account ?? null, nowSeconds());
      return this.#newRefresh(q, c, family);
    });
    return this.#pair(c, family, refresh);
  }

  async #requireLive(q: SqlQueries, c: Caller): Promise<void> {
    if (c.account !== undefined && !(await this.policy.isLiveKey(q, c.account, c.device))) {
      throw new LatchError('revoked_key', 'this device\'s key of the account is revoked; no tokens are issued for it', { status: 403 });
    }
  }

  async #newRefresh(q: SqlQueries, c: Caller, family: string): Promise<string> {
    const refresh = encodeBase64url(randomBytes(32));
    await q.run('INSERT INTO refresh_tokens (hash, email, device, account, expires_at, family, used) VALUES (?, ?, ?, ?, ?, ?, 0)',
      sha256hex(refresh), c.email, c.device, c.account ?? null, nowSeconds() + REFRESH_TTL_SECONDS, family);
    return refresh;
  }

  /** `row`, used, back for an answer that never arrived: its successor is still unseen, and the use is recent. */
  async #isLostAnswer(q: SqlQueries, row: RefreshRow): Promise<boolean> {
    const grace = this.options.reuseGraceSeconds ?? REUSE_GRACE_SECONDS;
    if (row.successor === null || row.used_at === null || nowSeconds() - Number(row.used_at) > grace) return false;
    const next = await q.get<{ used: number }>(`SELECT used FROM refresh_tokens WHERE hash = ?${this.db.dialect === 'postgres' ? ' FOR UPDATE' : ''}`, row.successor);
    return next !== undefined && next.used === 0;
  }

  async #pair(c: Caller, family: string, refresh: string): Promise<TokenPair> {
    const jwt = new SignJWT({ dev: c.device, fam: family, ...(c.account ? { acct: c.account } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(ISSUER)
      .setSubject(c.email)
      .setIssuedAt()
      .setExpirationTime(`${this.accessTtlSeconds}s`);
    return { access_token: await jwt.sign(this.secret), refresh_token: refresh, expires_in: this.accessTtlSeconds, ...(c.account ? { account: c.account } : {}) };
  }

  /** Throws LatchError('unauthorized', 401) unless the bearer token is a valid, live access token. */
  async verify(authorization: string | undefined): Promise<Caller> {
    const m = /^Bearer ([A-Za-z0-9_.-]{10,4096})$/.exec(authorization ?? '');
    if (!m) throw unauthorized('an access token is needed (Authorization: Bearer ...); run `latch login`');
    let caller: Caller & { family: string };
    try {
      const { payload } = await jwtVerify(m[1]!, this.secret, { issuer: ISSUER, audience: ISSUER, algorithms: ['HS256'], requiredClaims: ['exp', 'iat', 'sub', 'fam'] });
      if (typeof payload.sub !== 'string' || typeof payload.dev !== 'string' || typeof payload.fam !== 'string') throw new Error('claims');
      caller = { email: payload.sub, device: payload.dev, family: payload.fam, ...(typeof payload.acct === 'string' ? { account: payload.acct } : {}) };
    } catch {
      throw unauthorized('the access token is invalid or expired; log in again');
    }
    const fam = await this.db.get<{ revoked: number }>('SELECT revoked FROM token_families WHERE id = ?', caller.family);
    // One answer for every dead token (revoked family, revoked key): the client logs in again.
    if (!fam || fam.revoked !== 0 || (caller.account !== undefined && !(await this.policy.isLiveKey(this.db, caller.account, caller.device)))) {
      throw unauthorized('the access token is invalid or expired; log in again');
    }
    return { email: caller.email, device: caller.device, ...(caller.account !== undefined ? { account: caller.account } : {}) };
  }

  /** A new pair for a refresh token, which is used up; a second use revokes its family (but see #isLostAnswer). */
  async refresh(token: string): Promise<TokenPair> {
    const dead = (): LatchError => unauthorized('the refresh token is unknown, used or expired; log in again');
    let reused: RefreshRow | undefined;
    const out = await this.db.tx(async (q): Promise<{ c: Caller; family: string; refresh: string } | undefined> => {
      reused = undefined;
      // FOR UPDATE on PostgreSQL (SQLite's write transaction already excludes): two nodes
      // redeeming one refresh token at once must not both see it unused.
      const row = await q.get<RefreshRow>(`SELECT * FROM refresh_tokens WHERE hash = ?${this.db.dialect === 'postgres' ? ' FOR UPDATE' : ''}`, sha256hex(token));
      if (!row || row.expires_at < nowSeconds()) return undefined;
      const fam = await q.get<{ revoked: number }>('SELECT revoked FROM token_families WHERE id = ?', row.family);
      if (!fam || fam.revoked !== 0) return undefined;
      const lost = row.used !== 0 && (await this.#isLostAnswer(q, row));
      if (row.used !== 0 && !lost) {
        await this.#revokeFamily(q, row.family);
        reused = row;
        return undefined;
      }
      const c: Caller = { email: row.email, device: row.device, ...(row.account ? { account: row.account } : {}) };
      await this.#requireLive(q, c);
      // The unseen successor is superseded: used, with no successor of its own, so presenting it
      // later is a reuse and revokes the family (whoever holds it is not the client asking now).
      if (lost) await q.run('UPDATE refresh_tokens SET used = 1, successor = NULL WHERE hash = ?', row.successor);
      const refresh = await this.#newRefresh(q, c, row.family);
      // used_at is the first use's time: retries do not stretch the grace.
      await q.run('UPDATE refresh_tokens SET used = 1, used_at = COALESCE(used_at, ?), successor = ? WHERE hash = ?', nowSeconds(), sha256hex(refresh), row.hash);
      return { c, family: row.family, refresh };
    });
    if (reused) await this.policy.onReuse?.({ email: reused.email, device: reused.device, family: reused.family, ...(reused.account ? { account: reused.account } : {}) });
    if (!out) throw dead();
    return this.#pair(out.c, out.family, out.refresh);
  }

  async #revokeFamily(q: SqlQueries, family: string): Promise<void> {
    await q.run('UPDATE token_families SET revoked = 1 WHERE id = ?', family);
    await q.run('DELETE FROM refresh_tokens WHERE family = ? AND used = 0', family);
  }

  /** Kills every session of a device (its key was revoked): access and refresh tokens, at once. */
  async revokeDevice(q: SqlQueries, device: string): Promise<void> {
    await q.run('UPDATE token_families SET revoked = 1 WHERE device = ?', device);
    await q.run('DELETE FROM refresh_tokens WHERE device = ?', device);
  }

  /** Checks an OpenID Connect ID token from a configured issuer; returns its email. */
  async verifyIdToken(idToken: string): Promise<string> {
    let iss: unknown;
    try {
      iss = JSON.parse(Buffer.from(idToken.split('.')[1] ?? '', 'base64url').toString('utf8')).iss;
    } catch {
      throw new LatchError('bad_id_token', 'the ID token is not a JWT', { status: 401 });
    }
    const cfg = this.issuers.find((i) => i.issuer === iss);
    if (!cfg) throw new LatchError('unknown_issuer', 'the ID token comes from an issuer this server does not accept', { status: 401 });
    let jwks = this.#jwks.get(cfg.issuer);
    if (!jwks) this.#jwks.set(cfg.issuer, (jwks = createRemoteJWKSet(new URL(cfg.jwksUri ?? `${cfg.issuer.replace(/\/$/, '')}/.well-known/jwks.json`), { timeoutDuration: 5000 })));
    try {
      const { payload } = await jwtVerify(idToken, jwks, { issuer: cfg.issuer, audience: cfg.audience, requiredClaims: ['exp', 'iat'] });
      if (typeof payload.email !== 'string' || payload.email_verified === false) throw new Error('email');
      return payload.email.toLowerCase();
    } catch {
      throw new LatchError('bad_id_token', 'the ID token does not verify against its issuer\'s keys, or has no verified email', { status: 401 });
    }
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

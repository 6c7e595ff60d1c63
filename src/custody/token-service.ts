/**
 * Who is calling: access JWTs (HS256, short-lived) and refresh tokens, each bound to a user
 * (the OIDC subject, here an email), a device (its custody public key) and, once there is one,
 * an account. ID tokens from configured OIDC issuers are checked against their JWKS (jose).
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type Database from 'better-sqlite3';
import { LatchError } from '../util/latch-error.js';
import { encodeBase64url } from '../protocol/base64url.js';
import type { TokenPair } from './custody-api.js';

const ISSUER = 'latch-custody';
const REFRESH_TTL_SECONDS = 30 * 24 * 3600;

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

export function migrateTokens(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY, email TEXT NOT NULL, device TEXT NOT NULL, account TEXT, expires_at INTEGER NOT NULL)`);
}

const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');

export class TokenService {
  readonly #jwks = new Map<string, JWTVerifyGetKey>();
  constructor(
    private readonly db: Database.Database,
    private readonly secret: Uint8Array,
    private readonly accessTtlSeconds: number,
    private readonly issuers: OidcIssuerConfig[],
  ) {}

  async issue(c: Caller): Promise<TokenPair> {
    const jwt = new SignJWT({ dev: c.device, ...(c.account ? { acct: c.account } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(ISSUER)
      .setSubject(c.email)
      .setIssuedAt()
      .setExpirationTime(`${this.accessTtlSeconds}s`);
    const refresh = encodeBase64url(randomBytes(32));
    this.db
      .prepare('INSERT INTO refresh_tokens (hash, email, device, account, expires_at) VALUES (?, ?, ?, ?, ?)')
      .run(sha256hex(refresh), c.email, c.device, c.account ?? null, Math.floor(Date.now() / 1000) + REFRESH_TTL_SECONDS);
    return { access_token: await jwt.sign(this.secret), refresh_token: refresh, expires_in: this.accessTtlSeconds, ...(c.account ? { account: c.account } : {}) };
  }

  /** Throws LatchError('unauthorized', 401) unless the bearer token is a valid access token. */
  async verify(authorization: string | undefined): Promise<Caller> {
    const m = /^Bearer ([A-Za-z0-9_.-]{10,4096})$/.exec(authorization ?? '');
    if (!m) throw new LatchError('unauthorized', 'an access token is needed (Authorization: Bearer ...); run `latch login`', { status: 401 });
    try {
      const { payload } = await jwtVerify(m[1]!, this.secret, { issuer: ISSUER, audience: ISSUER, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.dev !== 'string') throw new Error('claims');
      return { email: payload.sub, device: payload.dev, ...(typeof payload.acct === 'string' ? { account: payload.acct } : {}) };
    } catch {
      throw new LatchError('unauthorized', 'the access token is invalid or expired; log in again', { status: 401 });
    }
  }

  /** A new pair for a refresh token (which stays valid until it expires). */
  async refresh(token: string): Promise<TokenPair> {
    const row = this.db.prepare('SELECT * FROM refresh_tokens WHERE hash = ?').get(sha256hex(token)) as
      | { email: string; device: string; account: string | null; expires_at: number }
      | undefined;
    if (!row || row.expires_at < Date.now() / 1000) throw new LatchError('unauthorized', 'the refresh token is unknown or expired; log in again', { status: 401 });
    return this.issue({ email: row.email, device: row.device, ...(row.account ? { account: row.account } : {}) });
  }

  /** Drops every refresh token of a device (its key was revoked). */
  revokeDevice(device: string): void {
    this.db.prepare('DELETE FROM refresh_tokens WHERE device = ?').run(device);
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
    if (!jwks) this.#jwks.set(cfg.issuer, (jwks = createRemoteJWKSet(new URL(cfg.jwksUri ?? `${cfg.issuer.replace(/\/$/, '')}/.well-known/jwks.json`))));
    try {
      const { payload } = await jwtVerify(idToken, jwks, { issuer: cfg.issuer, audience: cfg.audience });
      if (typeof payload.email !== 'string' || payload.email_verified === false) throw new Error('email');
      return payload.email.toLowerCase();
    } catch {
      throw new LatchError('bad_id_token', 'the ID token does not verify against its issuer\'s keys, or has no verified email', { status: 401 });
    }
  }
}

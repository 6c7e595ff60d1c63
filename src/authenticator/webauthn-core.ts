/**
 * What an authenticator decides for `webauthn_create` and `webauthn_get` (issue 11, PROTOCOL.md
 * §5.9), whatever stores its keys: the Node authenticator (keystore, webauthn-request-handler.ts)
 * and the web authenticator (IndexedDB and WebCrypto, src/web/web-passkey-store.ts). Browser-safe.
 *
 * It binds the site itself: it re-parses clientDataJSON (type, challenge, origin) and checks the
 * RP ID against that origin (client-data.ts, rp-id.ts), computes SHA-256(rpId) and
 * SHA-256(clientDataJSON) itself, and uses a credential only under the RP ID it was made for.
 * It never signs a hash a computer computed.
 *
 * Response fields (WebAuthn L3 §6.1, §6.5, §8.7): attestation "none" with Latch's AAGUID; UP set
 * after the person approved; UV set only when the approver verified the user (Decision
 * `verified`: `latch device run` asks for the keystore passphrase, docs/BROWSER.md "User
 * verification"), and a request that requires UV without it fails (§6.3.2 step 4, §6.3.3
 * step 5); BE = BS = 0 (keys never leave the device); the sign counter is incremented in the
 * store, under its lock, before each signature.
 *
 * The person's choices (docs/BROWSER.md "Choices on the authenticator"): "use another key"
 * (`use_another_key`, the page falls back to the browser's own authenticator) and, when a
 * login finds several accounts of the site, which one (§6.3.3 step 7 lets the authenticator ask).
 */
import { pairingFingerprint } from './pairing-fingerprint.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '@noble/curves/utils.js';
import { LatchError } from '../util/latch-error.js';
import { decodeBase64url, encodeBase64url } from '../protocol/base64url.js';
import { buildAuthenticatorData } from '../protocol/webauthn/authenticator-data.js';
import { buildNoneAttestationObject } from '../protocol/webauthn/attestation-object.js';
import { checkClientData, type ClientData } from '../protocol/webauthn/client-data.js';
import { chooseAlgorithm, type CoseAlgorithm, type PublicKey } from '../protocol/webauthn/cose-key.js';
import { rpIdHash } from '../protocol/webauthn/webauthn-sign-guard.js';
import type { WebauthnCreateBody, WebauthnCreateResult, WebauthnGetBody, WebauthnGetResult } from '../protocol/webauthn/webauthn-requests.js';
import type { StoredPairing, StoredWebauthnCredential } from './authenticator-state.js';
import type { RequestTiming } from './request-core.js';
import { cleanLine, type Approver, type Decision, type SignReview } from './sign-review.js';

/** Latch's AAGUID (WebAuthn L3 §6.5.2): names the product, the same for every Latch authenticator. */
export const LATCH_AAGUID = Uint8Array.from([0xf6, 0xb0, 0xb6, 0x5c, 0x12, 0x76, 0x47, 0x48, 0x99, 0x29, 0x66, 0x02, 0x1a, 0x38, 0x92, 0x6a]);

/** The public facts of a stored credential. */
export interface WebauthnCredentialInfo {
  id: Uint8Array;
  rpId: string;
  userHandle: Uint8Array;
  userName: string;
  createdAt: number;
  lastUsedAt?: number;
}

export interface NewWebauthnCredential {
  rpId: string;
  rpName: string;
  userHandle: Uint8Array;
  userName: string;
  userDisplayName: string;
  alg: CoseAlgorithm;
}

/** What every store keeps of a credential, beside its private key (keystore bytes, or a WebCrypto key). */
export type WebauthnCredentialFacts = Omit<StoredWebauthnCredential, 'secret'>;

/** The facts of a credential just made: counter 0, byte fields base64url. */
export function newCredentialFacts(n: NewWebauthnCredential, id: Uint8Array, publicKey: Uint8Array, createdAt: number): WebauthnCredentialFacts {
  return {
    id: encodeBase64url(id),
    rpId: n.rpId,
    rpName: n.rpName,
    userHandle: encodeBase64url(n.userHandle),
    userName: n.userName,
    userDisplayName: n.userDisplayName,
    alg: n.alg,
    publicKey: encodeBase64url(publicKey),
    signCount: 0,
    createdAt,
  };
}

export function credentialInfo(c: WebauthnCredentialFacts): WebauthnCredentialInfo {
  const info: WebauthnCredentialInfo = { id: decodeBase64url(c.id), rpId: c.rpId, userHandle: decodeBase64url(c.userHandle), userName: c.userName, createdAt: c.createdAt };
  if (c.lastUsedAt !== undefined) info.lastUsedAt = c.lastUsedAt;
  return info;
}

/** Where credentials live; every method is atomic against other writers. */
export interface WebauthnStore {
  /** The algorithms this store can make keys for, when not both (a browser without Ed25519 in WebCrypto); asked before any prompt. */
  algorithms?(): Promise<readonly CoseAlgorithm[]>;
  list(rpId: string): Promise<WebauthnCredentialInfo[]>;
  /** Make a random key and a 32-byte random id, store them (replacing a credential of the same rpId and user handle, §6.3.2 step 7), return the public parts. */
  create(c: NewWebauthnCredential): Promise<{ id: Uint8Array; publicKey: PublicKey }>;
  /** Increment the credential's sign counter and return the new value. */
  nextSignCount(id: Uint8Array): Promise<number>;
  /** Sign `data` with the credential's key (which checks it is an assertion for its rpId): DER for ES256, 64 bytes for EdDSA. */
  sign(id: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
}

export interface WebauthnCoreOptions {
  store: WebauthnStore;
  approver: Approver;
  log: (line: string) => void;
  /** Unix seconds, for withdrawing a prompt at the request's deadline; default the system clock. */
  clock?: () => number;
}

const ascii = (s: string): string => cleanLine(s).slice(0, 64);

/** Lines that say where the request comes from, beyond the site itself. */
function originLines(cd: ClientData, rpId: string): string[] {
  const lines: string[] = [];
  const host = new URL(cd.origin).hostname;
  if (host !== rpId) lines.push(`page: ${ascii(cd.origin)}`);
  if (cd.crossOrigin) lines.push(`asked from an embedded frame${cd.topOrigin ? ` inside ${ascii(cd.topOrigin)}` : ''}`);
  return lines;
}

function review(pairing: StoredPairing, body: WebauthnCreateBody | WebauthnGetBody, userName: string, credentialId: Uint8Array | undefined, lines: string[]): SignReview {
  const r: SignReview = {
    computerName: pairing.computerName,
    pairingId: pairing.id,
    computerFingerprint: pairingFingerprint(pairing),
    kind: 'webauthn',
    keyName: userName,
    keyFingerprint: credentialId ? encodeBase64url(credentialId).slice(0, 12) : '',
    lines,
    timedScopes: [],
    offerAnotherKey: true,
  };
  if (body.user_verification !== 'discouraged') r.userVerification = body.user_verification;
  return r;
}

/** The UV flag for an approval, or the failure when the site requires a verification that did not happen. */
function verified(d: Decision, body: WebauthnCreateBody | WebauthnGetBody): boolean {
  const uv = d.kind === 'once' && d.verified === true;
  if (body.user_verification === 'required' && !uv) throw new LatchError('user_verification_failed', 'the site requires user verification, and it did not happen on the authenticator');
  return uv;
}

function from(body: { browser: string }, pairing: StoredPairing): string {
  return `from ${ascii(body.browser)} on ${ascii(pairing.computerName)}`;
}

export class WebauthnCore {
  constructor(private readonly o: WebauthnCoreOptions) {}

  async create(pairing: StoredPairing, body: WebauthnCreateBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<WebauthnCreateResult> {
    const clientData = decodeBase64url(body.client_data, 'client_data');
    const cd = checkClientData(clientData, { type: 'webauthn.create', rpId: body.rp_id });
    const can = await this.o.store.algorithms?.();
    const alg = chooseAlgorithm(can ? body.algorithms.filter((a) => (can as readonly number[]).includes(a)) : body.algorithms);
    if (alg === undefined) throw new LatchError('webauthn_not_supported', 'none of the offered algorithms is supported (ES256, EdDSA)');
    const userHandle = decodeBase64url(body.user_id, 'user_id');
    const site = ascii(body.rp_id);
    const user = ascii(body.user_name);
    const existing = await this.o.store.list(body.rp_id);
    const excluded = existing.find((c) => body.exclude.some((x) => equalBytes(decodeBase64url(x), c.id)));
    if (excluded) {
      // §6.3.2 step 3: ask for presence before saying so, so a page cannot probe silently.
      const lines = [`${site} asks to create a passkey for ${user}, but this authenticator already holds one for ${site} (as ${ascii(excluded.userName)}).`, from(body, pairing), ...originLines(cd, body.rp_id), 'Approving tells the site so; no passkey is made.'];
      const r = review(pairing, body, body.user_name, excluded.id, lines);
      delete r.userVerification; // presence is all step 3 asks for
      await this.#ask(r, ack, timing);
      throw new LatchError('credential_excluded', 'this authenticator already holds a passkey for this site');
    }
    const lines = [`Create a passkey for ${site} ('${ascii(body.rp_name)}', as the site names itself) for ${user}?`, from(body, pairing), ...originLines(cd, body.rp_id)];
    const uv = verified(await this.#ask(review(pairing, body, body.user_name, undefined, lines), ack, timing), body);
    const made = await this.o.store.create({ rpId: body.rp_id, rpName: body.rp_name, userHandle, userName: body.user_name, userDisplayName: body.user_display_name, alg });
    const authData = buildAuthenticatorData({
      rpIdHash: rpIdHash(body.rp_id),
      flags: { up: true, uv, be: false, bs: false },
      signCount: 0,
      attestedCredential: { aaguid: LATCH_AAGUID, credentialId: made.id, publicKey: made.publicKey },
    });
    this.o.log(`created a passkey for ${site} (${user}) for ${pairing.computerName}`);
    return { credential_id: encodeBase64url(made.id), attestation_object: encodeBase64url(buildNoneAttestationObject(authData)) };
  }

  async get(pairing: StoredPairing, body: WebauthnGetBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<WebauthnGetResult> {
    const clientData = decodeBase64url(body.client_data, 'client_data');
    const cd = checkClientData(clientData, { type: 'webauthn.get', rpId: body.rp_id });
    const allow = body.allow.map((x) => decodeBase64url(x));
    const all = await this.o.store.list(body.rp_id);
    const candidates = allow.length === 0 ? all : all.filter((c) => allow.some((a) => equalBytes(a, c.id)));
    // Answered at once, without a prompt, so the page can fall back to another authenticator.
    if (candidates.length === 0) throw new LatchError('no_credential', `no passkey for ${ascii(body.rp_id)} on this authenticator`);
    // Most recently used first; with several, the person picks one (an approver that cannot
    // choose, such as --auto-approve, gets the first).
    const sorted = [...candidates].sort((a, b) => (b.lastUsedAt ?? b.createdAt) - (a.lastUsedAt ?? a.createdAt));
    const first = sorted[0]!;
    const several = sorted.length > 1;
    const lines = several
      ? [`Sign in to ${ascii(body.rp_id)}, ${from(body, pairing)}: which account?`, ...originLines(cd, body.rp_id)]
      : [`Sign in to ${ascii(body.rp_id)} as ${ascii(first.userName)}, ${from(body, pairing)}?`, ...originLines(cd, body.rp_id)];
    const r = review(pairing, body, first.userName, first.id, lines);
    if (several) r.accounts = sorted.map((c) => ascii(c.userName));
    const d = await this.#ask(r, ack, timing);
    const cred = d.kind === 'once' && d.account !== undefined ? sorted[d.account - 1] : first;
    if (!cred) throw new LatchError('bad_answer', 'the approver chose an account that is not listed');
    const uv = verified(d, body);
    const signCount = await this.o.store.nextSignCount(cred.id);
    const authData = buildAuthenticatorData({ rpIdHash: rpIdHash(body.rp_id), flags: { up: true, uv, be: false, bs: false }, signCount });
    const signed = new Uint8Array(authData.length + 32);
    signed.set(authData);
    signed.set(sha256(clientData), authData.length);
    const signature = await this.o.store.sign(cred.id, signed);
    this.o.log(`signed in to ${ascii(body.rp_id)} as ${ascii(cred.userName)} for ${pairing.computerName}`);
    return {
      credential_id: encodeBase64url(cred.id),
      authenticator_data: encodeBase64url(authData),
      signature: encodeBase64url(signature),
      user_handle: encodeBase64url(cred.userHandle),
    };
  }

  async #ask(r: SignReview, ack: () => Promise<void>, timing: RequestTiming | undefined): Promise<Decision> {
    // The page's timeout is the request's (§5.1.3 step 20 lifetimeTimer, sent as the deadline):
    // once the computer stops waiting, the prompt is for nobody and is withdrawn.
    if (timing) r.expiresAt = (this.o.clock?.() ?? Math.floor(Date.now() / 1000)) + Math.max(1, timing.timeoutSeconds);
    if (this.o.approver.interactive) await ack();
    const d = await this.o.approver.ask(r);
    if (d.kind === 'deny' && d.anotherKey) throw new LatchError('use_another_key', 'the person chose another key on the authenticator');
    if (d.kind === 'deny') throw new LatchError('denied', `denied on the authenticator${d.reason ? ` (${d.reason})` : ''}`);
    return d;
  }
}

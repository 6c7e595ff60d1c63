/**
 * Wire constants and shapes of the custody HTTP API (docs/CUSTODY.md), shared by the server,
 * the SDK and the authenticator. Pure; browser-safe.
 */
import { concatBytes } from '@noble/hashes/utils.js';

export const CUSTODY_PREFIX = '/custody/v1';

/**
 * Domain tag for login challenges signed by a device key: 32 bytes, right-padded with zeros,
 * like Flow's own transaction tag, so the two can never be confused (Flow's begins "FLOW-V0.0").
 */
export const LOGIN_DOMAIN_TAG: Uint8Array = (() => {
  const t = new Uint8Array(32);
  t.set(new TextEncoder().encode('LATCH-CUSTODY-LOGIN-V1'));
  return t;
})();
/** Login challenges are exactly 32 bytes. */
export const LOGIN_CHALLENGE_BYTES = 32;

export function loginMessage(challenge: Uint8Array): Uint8Array {
  if (challenge.length !== LOGIN_CHALLENGE_BYTES) throw new TypeError('login challenge must be 32 bytes');
  return concatBytes(LOGIN_DOMAIN_TAG, challenge);
}

/** Every key of an account has equal weight; two of three reach Flow's 1000. */
export const CUSTODY_KEY_WEIGHT = 500;
export type KeyRole = 'device' | 'server' | 'recovery';

/** How long a join request waits for an existing device (issue 4: 3 minutes). */
export const JOIN_TTL_SECONDS = 180;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  /** seconds */
  expires_in: number;
  account?: string;
}

/** A relay inbox an authenticator registers so the server can reach it end to end. */
export interface DeviceInbox {
  relay_url: string;
  queue_id: string;
  /** X25519 public key, base64url. */
  box_public_key: string;
}

/** Plaintext of the boxed notices the server sends to devices through the relay. */
export type DeviceNotice =
  | {
      type: 'custody-join';
      join_id: string;
      account: string;
      device_name: string;
      device_public_key: string;
      /** The client address the server saw the request come from (not anything the client claims). */
      origin: string;
      /** When the server received the request (Unix seconds). */
      requested_at?: number;
      /** The name equals or looks like (UTS #39 skeleton) a live device of the account. */
      name_clash?: { kind: 'same' | 'confusable'; with: string };
      expires_at: number;
      server_url: string;
    }
  | {
      /** After self-custody: another device asks this one to add the second signature. */
      type: 'custody-sign';
      request_id: string;
      account: string;
      /** Flow Access REST transaction shape, with the requesting device's envelope signature. */
      transaction: import('../ledger/flow/flow-rest-shape.js').RestTransaction;
      device_name: string;
      expires_at: number;
      server_url: string;
    }
  | {
      type: 'custody-recovery';
      recovery_id: string;
      account: string;
      /** Recovery: the new device's name. Recovery-key change: the device that asked for it. */
      device_name: string;
      ready_at: number;
      server_url: string;
      /**
       * Present when device + server add a (replacement) recovery key rather than a device (issue
       * 15 §1), or link a parent (issue 13 review); `recovery_id` then cancels that change.
       */
      change?: 'recovery-key' | 'link';
      /** That key's fingerprint (key-fingerprint.ts). */
      key_fingerprint?: string;
      /** The parent a link would give everything in the account to. */
      parent?: string;
    }
  | {
      /**
       * A key of the account was revoked, which happens at once (device + server, or two keys of
       * the user's after self-custody): every live device is told, and a revoked device too, so
       * that an owner whose phone was taken learns it from the other device, or from the one
       * revoked. Nothing to answer (docs/CUSTODY.md "Revoking a key").
       */
      type: 'custody-key-revoked';
      account: string;
      key_index: number;
      /** What the key was to the account; `unknown` for a key the server never recorded. */
      role: KeyRole | 'unknown';
      /** key-fingerprint.ts of the revoked key; absent when the server has no record of it. */
      key_fingerprint?: string;
      /** The revoked device's name, for role `device`. */
      revoked_name?: string;
      /** The device whose signature revoked it. */
      device_name: string;
      revoked_at: number;
      server_url: string;
    };

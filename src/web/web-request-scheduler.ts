/**
 * Which relay message the page works on next (issue 16 §2). Requests used to share 16 slots per
 * relay, and the inbox stopped reading while they were full: a computer sending 200 sign
 * requests filled them with cards for about 10 minutes, so another computer's `latch status`
 * and ssh logins timed out. Now:
 *
 * - each pairing has its own PER_PAIRING_IN_FLIGHT slots: one computer's requests only ever
 *   wait behind its own; the inbox never stops reading;
 * - `me`, `pair_hello` and `unpair` (answered at once, no card) never wait for a slot;
 * - a signature request that has waited so long that its computer has given up is dropped
 *   unseen when its turn comes (see `UNSEEN_MAX_AGE_SECONDS`), never shown as a fresh card.
 *
 * The envelope is opened here only to read the request's kind and time (the same check
 * handleRequest does again); nothing is acted on. Browser-safe.
 */
import { decodeBase64url } from '../protocol/base64url.js';
import { envelopeKind, openBoxedMessage } from '../protocol/envelope.js';
import { parseMessage } from '../protocol/messages.js';
import { ACK_EXTENSION_SECONDS } from '../protocol/protocol-constants.js';
import type { Sodium } from '../protocol/sodium.js';
import type { StoredPairing } from '../authenticator/authenticator-state.js';

/** Requests of one pairing handled at once (each may be an open card); more wait their turn. */
export const PER_PAIRING_IN_FLIGHT = 8;
/** Messages of one pairing held waiting; beyond this they stay on the relay (unacked) for later. */
export const PER_PAIRING_WAITING = 1000;
/**
 * A sign request this old when its turn comes is dropped unseen. A computer waits `latch agent
 * --sign-timeout` (30 s by default) for the ack, and ACK_EXTENSION_SECONDS after it; a request
 * not yet acked after this long has been given up on unless --sign-timeout is above 120 s.
 * PROTOCOL.md §5: a request deadline on the wire will replace this estimate.
 */
export const UNSEEN_MAX_AGE_SECONDS = 2 * ACK_EXTENSION_SECONDS;

export interface Peeked {
  kind: string;
  unixSeconds: number;
}

/** The request's kind and time, or undefined when it does not open (handleRequest logs that). */
export function peekRequest(sodium: Sodium, pairing: StoredPairing, envelope: Uint8Array): Peeked | undefined {
  try {
    if (envelopeKind(envelope) !== 'boxed') return undefined;
    const msg = parseMessage(openBoxedMessage(sodium, envelope, decodeBase64url(pairing.computerPublicKey), decodeBase64url(pairing.sessionSecretKey)));
    return msg.type === 'request' ? { kind: msg.body.kind, unixSeconds: msg.unix_seconds } : undefined;
  } catch {
    return undefined;
  }
}

/** Kinds answered without a card: they never wait for a slot. */
export function answeredAtOnce(kind: string): boolean {
  return kind === 'me' || kind === 'pair_hello' || kind === 'unpair';
}

interface Lane {
  running: number;
  waiting: { job: () => Promise<void>; peeked: Peeked | undefined; drop: () => Promise<void> }[];
}

/** Per-pairing lanes of jobs (one relay's inbox). */
export class FairScheduler {
  readonly #lanes = new Map<string, Lane>();
  readonly #all = new Set<Promise<void>>();

  constructor(private readonly clock: () => number) {}

  /**
   * Run `job` for `pairingId` now or when one of its slots frees; `drop` instead if, by then, it
   * is a sign request older than UNSEEN_MAX_AGE_SECONDS. False when the lane is full (the
   * message stays on the relay).
   */
  push(pairingId: string, peeked: Peeked | undefined, job: () => Promise<void>, drop: () => Promise<void>): boolean {
    if (peeked && answeredAtOnce(peeked.kind)) {
      this.#track(job());
      return true;
    }
    let lane = this.#lanes.get(pairingId);
    if (!lane) this.#lanes.set(pairingId, (lane = { running: 0, waiting: [] }));
    if (lane.waiting.length >= PER_PAIRING_WAITING) return false;
    lane.waiting.push({ job, peeked, drop });
    this.#pump(pairingId, lane);
    return true;
  }

  #pump(pairingId: string, lane: Lane): void {
    while (lane.running < PER_PAIRING_IN_FLIGHT && lane.waiting.length) {
      const next = lane.waiting.shift()!;
      if (next.peeked && this.clock() - next.peeked.unixSeconds > UNSEEN_MAX_AGE_SECONDS) {
        this.#track(next.drop());
        continue;
      }
      lane.running++;
      this.#track(
        next.job().finally(() => {
          lane.running--;
          this.#pump(pairingId, lane);
          if (lane.running === 0 && lane.waiting.length === 0) this.#lanes.delete(pairingId);
        }),
      );
    }
  }

  #track(p: Promise<void>): void {
    const q = p.catch(() => undefined);
    this.#all.add(q);
    void q.finally(() => this.#all.delete(q));
  }

  /** Settles once every job started so far has (waiting ones are left to the relay). */
  async idle(): Promise<void> {
    while (this.#all.size) await Promise.allSettled([...this.#all]);
  }
}

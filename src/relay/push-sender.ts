/**
 * Sends the Web Push wake-ups of issue 14 (PROTOCOL.md §3.9): RFC 8030 delivery, RFC 8291
 * aes128gcm encryption and RFC 8292 VAPID, all by the `web-push` package (never hand-rolled).
 *
 * At most one push per subscription is in flight; messages stored meanwhile are batched into one
 * more push, carrying the newest. The push service's answers (RFC 8030 §5, §7.1):
 *   404/410 the subscription is gone: dropped here;
 *   429     too many: nothing more to it until Retry-After has passed, then one push for the newest;
 *   413     the payload is too large: sent again as a content-free wake;
 *   other   logged (401/403: the VAPID signature or key was refused), the subscription is kept.
 */
import { DEFAULT_PUSH_SERVICE_HOSTS, isAllowedPushEndpoint } from './push-service-hosts.js';
import webpush from 'web-push';
import { encodeBase64url } from '../protocol/base64url.js';
import type { StoredMessage } from './relay-store.js';
import type { PushSubscriptionRecord, PushSubscriptionStore } from './push-subscription-store.js';
import type { VapidKeys } from './vapid-keys.js';

/**
 * RFC 8291 §4: a push message is at most 4096 bytes on the wire; aes128gcm adds an 86-byte header
 * (with a 65-byte key id), a 16-byte tag and at least one padding delimiter byte.
 */
export const MAX_PUSH_PLAINTEXT_BYTES = 4096 - 86 - 16 - 1;
/** Retry-After when a 429 names none. */
const DEFAULT_RETRY_AFTER_SECONDS = 60;
/** How long one POST to the push service may take. */
const PUSH_TIMEOUT_MS = 10_000;

/** What the relay tells the push service to deliver (PROTOCOL.md §3.9): the envelope when it fits, else a wake. */
export function pushPayload(queue: string, message: StoredMessage): string {
  const full = JSON.stringify({ v: 1, queue, id: message.id, envelope: encodeBase64url(message.body) });
  if (Buffer.byteLength(full) <= MAX_PUSH_PLAINTEXT_BYTES) return full;
  return wakePayload(queue, message);
}

function wakePayload(queue: string, message: StoredMessage): string {
  return JSON.stringify({ v: 1, queue, id: message.id });
}

/** web-push's send, as a seam for the HTTPS agent (tests trust the stand-in's throwaway CA via NODE_EXTRA_CA_CERTS instead). */
export type SendPush = (sub: PushSubscriptionRecord, payload: string, options: webpush.RequestOptions) => Promise<{ statusCode: number }>;

const defaultSend: SendPush = (sub, payload, options) =>
  webpush.sendNotification({ endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } }, payload, options);

export interface PushSenderOptions {
  keys: VapidKeys;
  /** VAPID `sub` claim: mailto: or https: (RFC 8292 §2.1). */
  subject: string;
  store: PushSubscriptionStore;
  log: (line: string) => void;
  /** The push's TTL (RFC 8030 §5.2). */
  ttlSeconds: number;
  /** Push services the relay may POST to (push-service-hosts.ts); default the public ones. */
  allowedHosts?: readonly string[];
  send?: SendPush;
}

interface QueueState {
  inFlight: boolean;
  /** The newest message stored while a push was in flight or held back. */
  pending: StoredMessage | undefined;
  /** unix ms before which nothing is sent (429 Retry-After). */
  notBefore: number;
  timer: NodeJS.Timeout | undefined;
}

export class PushSender {
  readonly #o: PushSenderOptions;
  readonly #send: SendPush;
  readonly #queues = new Map<string, QueueState>();
  #closed = false;
  /** Pushes started and not yet settled (the relay's close waits for none; tests read it). */
  #active = new Set<Promise<void>>();

  constructor(o: PushSenderOptions) {
    this.#o = o;
    this.#send = o.send ?? defaultSend;
  }

  get publicKey(): string {
    return this.#o.keys.publicKey;
  }

  /** A message was stored in `queue`, which has a subscription and no live reader: wake its browser. */
  wake(queue: string, message: StoredMessage): void {
    if (this.#closed) return;
    let st = this.#queues.get(queue);
    if (st === undefined) {
      st = { inFlight: false, pending: undefined, notBefore: 0, timer: undefined };
      this.#queues.set(queue, st);
    }
    // Copied: the body may be a view into a socket's read chunk (relay-ws.ts, sendFrame), and a
    // push service's Retry-After can keep it pending for hours.
    st.pending = { ...message, body: new Uint8Array(message.body) };
    this.#pump(queue, st);
  }

  #pump(queue: string, st: QueueState): void {
    if (st.inFlight || st.timer !== undefined || st.pending === undefined || this.#closed) return;
    const wait = st.notBefore - Date.now();
    if (wait > 0) {
      st.timer = setTimeout(() => {
        st.timer = undefined;
        this.#pump(queue, st);
      }, wait);
      st.timer.unref();
      return;
    }
    const message = st.pending;
    st.pending = undefined;
    st.inFlight = true;
    const p = this.#pushOne(queue, st, message).finally(() => {
      this.#active.delete(p);
      st.inFlight = false;
      if (st.pending === undefined && st.timer === undefined) this.#queues.delete(queue);
      else this.#pump(queue, st);
    });
    this.#active.add(p);
  }

  async #pushOne(queue: string, st: QueueState, message: StoredMessage): Promise<void> {
    const sub = await this.#o.store.get(queue);
    if (sub === undefined) return;
    const host = hostOf(sub.endpoint);
    // Checked again here: a subscription stored before the operator narrowed the list.
    if (!isAllowedPushEndpoint(sub.endpoint, this.#o.allowedHosts ?? DEFAULT_PUSH_SERVICE_HOSTS)) {
      await this.#o.store.delete(queue, sub.endpoint);
      this.#o.log(`push subscription of queue ${queue} at ${host} is not a known push service: dropped`);
      return;
    }
    const options: webpush.RequestOptions = {
      vapidDetails: { subject: this.#o.subject, publicKey: this.#o.keys.publicKey, privateKey: this.#o.keys.privateKey },
      TTL: this.#o.ttlSeconds,
      urgency: 'high',
      // One topic per pairing (its queue id, 22 base64url characters): a newer push replaces an
      // older one still waiting at the push service (RFC 8030 §5.4).
      topic: queue,
      contentEncoding: 'aes128gcm',
      timeout: PUSH_TIMEOUT_MS,
    };
    let payload = pushPayload(queue, message);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.#send(sub, payload, options);
        this.#o.log(`push sent for queue ${queue} to ${host} (${payload.includes('"envelope"') ? 'envelope' : 'wake'})`);
        return;
      } catch (e) {
        const status = (e as { statusCode?: unknown }).statusCode;
        if (typeof status !== 'number') {
          this.#o.log(`push for queue ${queue} to ${host} failed: ${e instanceof Error ? e.message : String(e)}`);
          return;
        }
        if (status === 404 || status === 410) {
          await this.#o.store.delete(queue, sub.endpoint);
          this.#o.log(`push subscription of queue ${queue} at ${host} is gone (${status}): dropped`);
          return;
        }
        if (status === 429) {
          const after = retryAfterSeconds((e as { headers?: Record<string, string | string[] | undefined> }).headers?.['retry-after']);
          st.notBefore = Date.now() + after * 1000;
          // The message is not lost: it is still in the queue. One push for the newest follows the wait.
          st.pending ??= message;
          this.#o.log(`push for queue ${queue} to ${host} rate limited (429): next one in ${after} s`);
          return;
        }
        if (status === 413 && attempt === 0) {
          payload = wakePayload(queue, message);
          this.#o.log(`push for queue ${queue} to ${host} too large (413): sending a content-free wake`);
          continue;
        }
        const body = String((e as { body?: unknown }).body ?? '').slice(0, 200).replace(/[\p{Cc}\p{Cf}]/gu, '?');
        this.#o.log(`push for queue ${queue} to ${host} refused (${status}): ${body}`);
        return;
      }
    }
  }

  /** Resolves once the pushes in flight now have settled. */
  async idle(): Promise<void> {
    while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
  }

  close(): void {
    this.#closed = true;
    for (const st of this.#queues.values()) if (st.timer !== undefined) clearTimeout(st.timer);
    this.#queues.clear();
  }
}

/** RFC 9110 §10.2.3: delay-seconds (an HTTP-date is read too); bounded to a day. */
export function retryAfterSeconds(value: string | string[] | undefined): number {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return DEFAULT_RETRY_AFTER_SECONDS;
  if (/^[0-9]{1,9}$/.test(v.trim())) return Math.min(86400, Number(v.trim()));
  const at = Date.parse(v);
  if (Number.isFinite(at)) return Math.min(86400, Math.max(0, Math.ceil((at - Date.now()) / 1000)));
  return DEFAULT_RETRY_AFTER_SECONDS;
}

/** The push service's host only: the endpoint's path is the subscription's capability and stays out of logs. */
function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return 'an unparseable endpoint';
  }
}

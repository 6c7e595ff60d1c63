/**
 * RelayStore on NATS JetStream (issue 10; PROTOCOL.md §3.6), for a relay of several `latch
 * server` nodes that share one JetStream. Behind the same interface as SqliteRelayStore: the
 * HTTP routes and the WebSocket hub never learn which store they have.
 *
 * Layout (measured design points of issue 10):
 * - One stream (`LATCH_RELAY` by default) with a subject per queue, `<prefix>.q.<queue id>`; not a
 *   stream per queue, since each replicated stream is its own raft group.
 * - The stream sequence is the message id (increasing, never reused).
 * - An ack is a delete by sequence, after checking that the sequence belongs to the queue and is
 *   not its closed marker; consumer acks would need a durable consumer per queue.
 * - The TTL is the stream's `max_age`; reads also hide what is older than the TTL by the time
 *   the relay gave the message (`Latch-At`), so expiry reads the same as on SQLite.
 * - Retried sends are deduplicated by JetStream with `Nats-Msg-Id: <queue>.<cid>` within the
 *   stream's duplicate window (10 min, or the TTL if shorter): a retry answers the first id, also
 *   after that message was acked.
 *
 * Closed markers (§3.3 "store unless closed" in one step). nats-server 2.9 has no
 * `Nats-Expected-Last-Subject-Sequence-Subject` (2.11) to make a put conditional on another
 * subject, so the marker is a message ON THE QUEUE'S OWN SUBJECT (header `Latch-Closed`), and every
 * put is conditional on the queue subject's last sequence (`Nats-Expected-Last-Subject-Sequence`,
 * which 2.9 has): a put names the last sequence it believes the queue has, JetStream appends only
 * if that is still the last, and refuses otherwise, naming the real one. A close appends its marker
 * unconditionally, so a put that raced with it is refused and, on its retry, finds the marker last:
 * nothing is ever appended after a live marker. The put guesses the last sequence from what this
 * node last stored there (0, "no message", when it knows none, which is the common case of a
 * drained queue), so a put costs one round trip when the guess holds and three when it does not
 * (refused, read the named message to see whether it is a marker, retry). This form is used on
 * every server version; on 2.11+ the one-step form with a separate marker subject would save
 * nothing in the common case and is not used (docs/SCALING.md).
 *
 * Reads go through the stream leader (`$JS.API.STREAM.MSG.GET`, not direct gets): a direct get on
 * a replicated stream can miss a message right after it was written (issue 10: 0.3-11% here).
 *
 * Wake-ups cross nodes over core NATS (NatsQueueWakes): after JetStream acknowledged a put, the
 * node that stored it publishes the body on `<prefix>.w.<queue>`, where the node holding the
 * reader's socket listens.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import {
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type StoredMsg,
  type MsgRequest,
} from '@nats-io/jetstream';
import { DEDUP_WINDOW_MS, type PutResult, type RelayStore, type StoredMessage } from './relay-store.js';
import { NatsQueueWakes } from './nats-queue-wakes.js';
import { LatchError } from '../util/latch-error.js';
import { KeyedQueue } from '../util/keyed-queue.js';

export const DEFAULT_STREAM = 'LATCH_RELAY';
export const DEFAULT_SUBJECT_PREFIX = 'latch.relay';
/** JetStream API error: a conditional publish found another last sequence on the subject. */
const WRONG_LAST_SEQUENCE = 10071;
/** JetStream API errors: no message at that sequence (get, delete). */
const NO_MESSAGE_FOUND = new Set([10037, 10057]);
/** Attempts of one put against a moving queue (other nodes putting, readers acking) before it gives up. */
const MAX_PUT_ATTEMPTS = 64;
/** Last sequences remembered per queue; past this the memory starts over (a wrong guess only costs round trips). */
const MAX_REMEMBERED_QUEUES = 100_000;
const HEADER_AT = 'Latch-At';
const HEADER_CLOSED = 'Latch-Closed';
const HEADER_REASON = 'Latch-Reason';
const MS_TO_NS = 1_000_000;
/** How long a starting node waits for JetStream to accept the stream (a fresh cluster elects its leaders first). */
const STARTUP_WAIT_MS = 30_000;
/** JetStream API requests (reads, deletes) wait this long for an answer. */
const API_TIMEOUT_MS = 2000;

export interface JetStreamRelayStoreOptions {
  /** nats://HOST:PORT URLs of one NATS cluster (the client fails over between them). */
  servers: readonly string[];
  ttlSeconds: number;
  /** Stream replicas; default 3 when three or more servers are named, else 1. */
  replicas?: number;
  stream?: string;
  subjectPrefix?: string;
  log?: (line: string) => void;
}

/** Parses `nats://HOST:PORT[,nats://...]` (`latch server --relay-store`). */
export function parseNatsServers(text: string): string[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) throw new LatchError('bad_relay_store', '--relay-store takes nats://HOST:PORT[,nats://HOST:PORT...]');
  for (const p of parts) {
    let u: URL;
    try {
      u = new URL(p);
    } catch {
      throw new LatchError('bad_relay_store', `--relay-store: "${p.slice(0, 80)}" is not a URL`);
    }
    if (u.protocol !== 'nats:' || u.hostname === '' || (u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
      throw new LatchError('bad_relay_store', `--relay-store: "${p.slice(0, 80)}" must be nats://HOST:PORT`);
    }
  }
  return parts;
}

export class JetStreamRelayStore implements RelayStore {
  readonly wakes: NatsQueueWakes;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #prefix: string;
  readonly #ttlMs: number;
  /** queue -> a sequence this node knows is the queue's last message and not a marker (a guess). */
  readonly #last = new Map<string, number>();
  /** This node's puts, one at a time per queue (see put). */
  readonly #perQueue = new KeyedQueue();
  #open = true;

  private constructor(nc: NatsConnection, jsm: JetStreamManager, stream: string, prefix: string, ttlMs: number, log: (line: string) => void) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = jetstream(nc);
    this.#stream = stream;
    this.#prefix = prefix;
    this.#ttlMs = ttlMs;
    this.wakes = new NatsQueueWakes(nc, `${prefix}.w`, log);
  }

  static async open(opts: JetStreamRelayStoreOptions): Promise<JetStreamRelayStore> {
    if (!Number.isFinite(opts.ttlSeconds) || opts.ttlSeconds <= 0) throw new TypeError('ttlSeconds must be positive');
    const log = opts.log ?? (() => {});
    const stream = opts.stream ?? DEFAULT_STREAM;
    const prefix = opts.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
    const ttlMs = Math.round(opts.ttlSeconds * 1000);
    const replicas = opts.replicas ?? (opts.servers.length >= 3 ? 3 : 1);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...opts.servers],
        name: 'latch-relay',
        // A node's own wake-ups reach its local readers in-process; NATS only carries them to the others.
        noEcho: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 5000,
        maxPingOut: 2,
      });
    } catch (e) {
      throw new LatchError('relay_store_unreachable', `cannot reach NATS at ${opts.servers.join(',')}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    try {
      // Reads and acks give up after API_TIMEOUT_MS: during a leader election nothing answers, and
      // a reader is better served by a quick error and a retry (relay-ws.ts) than by a long wait.
      const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
      const config = {
        name: stream,
        subjects: [`${prefix}.q.*`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: replicas,
        max_age: ttlMs * MS_TO_NS,
        // JetStream wants the window no longer than max_age.
        duplicate_window: Math.min(DEDUP_WINDOW_MS, ttlMs) * MS_TO_NS,
        // Reads must see what was just acknowledged: through the leader, not direct gets.
        allow_direct: false,
        allow_rollup_hdrs: false,
        deny_delete: false,
      };
      // A cluster that just started has no JetStream meta leader for a moment: retry until it has.
      const deadline = Date.now() + STARTUP_WAIT_MS;
      for (;;) {
        try {
          await jsm.streams.add(config);
          break;
        } catch (e) {
          // Another node created it first, or it exists from an earlier run: use it as it is.
          const info = await jsm.streams.info(stream).catch(() => undefined);
          if (info !== undefined) {
            if (info.config.max_age !== config.max_age) log(`relay store: stream ${stream} keeps max_age ${info.config.max_age / MS_TO_NS / 1000} s, not --ttl ${opts.ttlSeconds} s`);
            break;
          }
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      return new JetStreamRelayStore(nc, jsm, stream, prefix, ttlMs, log);
    } catch (e) {
      await nc.close().catch(() => {});
      throw e;
    }
  }

  #subject(queue: string): string {
    return `${this.#prefix}.q.${queue}`;
  }

  /**
   * Puts to one queue from this node go one after another: each knows the sequence the previous
   * one got, so none is refused for a stale guess. Concurrent conditional puts to one subject
   * would refuse all but one per round (quadratic retries on a busy queue); other queues and
   * other nodes are not held up.
   */
  put(queue: string, body: Uint8Array, now: number, clientId?: string): Promise<PutResult> {
    this.#check();
    return this.#perQueue.run(queue, () => this.#put(queue, body, now, clientId));
  }

  async #put(queue: string, body: Uint8Array, now: number, clientId?: string): Promise<PutResult> {
    const subject = this.#subject(queue);
    const hdrs = natsHeaders();
    hdrs.set(HEADER_AT, String(now));
    let expect = this.#last.get(queue) ?? 0;
    for (let attempt = 0; attempt < MAX_PUT_ATTEMPTS; attempt++) {
      try {
        const ack = await this.#js.publish(subject, body, {
          headers: hdrs,
          expect: { lastSubjectSequence: expect },
          ...(clientId !== undefined ? { msgID: `${queue}.${clientId}` } : {}),
        });
        if (ack.duplicate) return { ok: true, id: String(ack.seq), duplicate: true };
        this.#remember(queue, ack.seq);
        return { ok: true, id: String(ack.seq), duplicate: false, previousId: String(expect) };
      } catch (e) {
        const actual = wrongLastSequence(e);
        if (actual === undefined) throw e;
        if (actual === 0) {
          expect = 0;
          continue;
        }
        // Is the queue's last message its live closed marker? Then the queue is closed (§3.3).
        const last = await this.#get(actual);
        if (last !== undefined && last.subject === subject && isMarker(last) && this.#live(last, now)) {
          this.#last.delete(queue);
          return { ok: false, reason: 'closed' };
        }
        expect = actual;
      }
    }
    throw new LatchError('relay_store_busy', `queue ${queue} kept changing under ${MAX_PUT_ATTEMPTS} attempts to store`);
  }

  async list(queue: string, afterId: string | undefined, limit: number, now: number): Promise<StoredMessage[]> {
    this.#check();
    const subject = this.#subject(queue);
    const out: StoredMessage[] = [];
    let seq = afterId === undefined ? 1 : Number(BigInt(afterId) + 1n);
    while (out.length < limit) {
      let m: StoredMsg | null;
      try {
        // STREAM.MSG.GET takes next_by_subj since nats-server 2.9 (checked against 2.9.10); the
        // client's type names it only for direct gets, which this store avoids (see above).
        m = await this.#jsm.streams.getMessage(this.#stream, { seq, next_by_subj: subject } as unknown as MsgRequest);
      } catch (e) {
        if (isNotFound(e)) break;
        throw e;
      }
      if (m === null) break;
      seq = m.seq + 1;
      if (isMarker(m) || !this.#live(m, now)) continue;
      out.push({ id: String(m.seq), body: m.data, receivedAt: at(m) });
    }
    return out;
  }

  async ack(queue: string, ids: readonly string[]): Promise<number> {
    this.#check();
    const subject = this.#subject(queue);
    const results = await Promise.all(
      [...new Set(ids)].map(async (id) => {
        const seq = Number(id);
        if (!Number.isSafeInteger(seq)) return 0;
        // Only this queue's messages, never its closed marker: a reader acks its own queue.
        const m = await this.#get(seq);
        if (m === undefined || m.subject !== subject || isMarker(m)) return 0;
        try {
          const deleted = await this.#jsm.streams.deleteMessage(this.#stream, seq, false);
          if (deleted && this.#last.get(queue) === seq) this.#last.delete(queue);
          return deleted ? 1 : 0;
        } catch (e) {
          if (isNotFound(e)) return 0; // acked concurrently
          throw e;
        }
      }),
    );
    return results.reduce<number>((a, b) => a + b, 0);
  }

  close(): Promise<void>;
  close(queue: string, reason: string | undefined, now: number): Promise<void>;
  async close(queue?: string, reason?: string, now?: number): Promise<void> {
    if (queue === undefined) {
      if (!this.#open) return;
      this.#open = false;
      this.wakes.stop();
      await this.#nc.drain().catch(() => this.#nc.close());
      return;
    }
    this.#check();
    if (typeof now !== 'number') throw new TypeError('close(queue, reason, now) needs now');
    const hdrs = natsHeaders();
    hdrs.set(HEADER_AT, String(now));
    hdrs.set(HEADER_CLOSED, '1');
    if (reason !== undefined) hdrs.set(HEADER_REASON, encodeURIComponent(reason));
    // Unconditional: any put that read the old last sequence is now refused and finds this marker.
    await this.#js.publish(this.#subject(queue), new Uint8Array(0), { headers: hdrs });
    this.#last.delete(queue);
  }

  async isClosed(queue: string, now: number): Promise<boolean> {
    this.#check();
    let m: StoredMsg | null;
    try {
      m = await this.#jsm.streams.getMessage(this.#stream, { last_by_subj: this.#subject(queue) });
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
    return m !== null && isMarker(m) && this.#live(m, now);
  }

  /** JetStream's max_age deletes expired messages and markers, and the duplicate window forgets client ids. */
  async purgeExpired(_now: number): Promise<number> {
    this.#check();
    if (this.#last.size > MAX_REMEMBERED_QUEUES) this.#last.clear();
    return 0;
  }

  async #get(seq: number): Promise<StoredMsg | undefined> {
    try {
      return (await this.#jsm.streams.getMessage(this.#stream, { seq })) ?? undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  #remember(queue: string, seq: number): void {
    if (this.#last.size >= MAX_REMEMBERED_QUEUES) this.#last.clear();
    this.#last.set(queue, seq);
  }

  #live(m: StoredMsg, now: number): boolean {
    return at(m) > now - this.#ttlMs;
  }

  #check(): void {
    if (!this.#open) throw new Error('relay store is closed');
  }
}

function header(h: MsgHdrs | undefined, name: string): string | undefined {
  const v = h?.get(name);
  return v === undefined || v === '' ? undefined : v;
}

function isMarker(m: StoredMsg): boolean {
  return header(m.header, HEADER_CLOSED) !== undefined;
}

/** The relay's time of the message (unix ms); a message without one (not written by Latch) counts from the stream's time. */
function at(m: StoredMsg): number {
  const v = header(m.header, HEADER_AT);
  const n = v === undefined ? NaN : Number(v);
  return Number.isSafeInteger(n) ? n : m.time.getTime();
}

function apiCode(e: unknown): number | undefined {
  if (e instanceof JetStreamApiError) return e.code;
  return undefined;
}

function isNotFound(e: unknown): boolean {
  const code = apiCode(e);
  return code !== undefined && NO_MESSAGE_FOUND.has(code);
}

/** The sequence a refused conditional publish names ("wrong last sequence: N"), or undefined for other errors. */
function wrongLastSequence(e: unknown): number | undefined {
  if (apiCode(e) !== WRONG_LAST_SEQUENCE) return undefined;
  const m = /wrong last sequence: ([0-9]+)/.exec((e as Error).message);
  if (m === null) return undefined;
  return Number(m[1]);
}

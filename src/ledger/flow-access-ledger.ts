/**
 * The Ledger interface over a real Flow network, through the Access REST API
 * (onflow/flow openapi/access.yaml): GET /v1/accounts/{address}?expand=keys,
 * POST /v1/transactions, GET /v1/transactions/{id}?expand=result, GET /v1/blocks?height=sealed.
 * Transactions are built and signed by the caller exactly as for the embedded ledger; this
 * adapter only moves them and checks what comes back (ids must match contents).
 */
import { LatchError } from '../util/latch-error.js';
import { parseNetwork, type FlowNetwork } from './flow/cadence-templates.js';
import type { NewFlowAccountKey } from './flow/flow-account-key.js';
import { decodeBase64, encodeBase64 } from '../protocol/base64url.js';
import { canonicalHex } from './flow/flow-hex.js';
import { fromRestAccount, fromRestTransaction, toRestTransaction } from './flow/flow-rest-shape.js';
import { normalizeTransaction, parseFlowAddress, transactionId, type FlowTransaction } from './flow/flow-transaction.js';
import { cadenceArg, unitsToUFix64 } from './flow/json-cadence.js';
import { childAddressesScript, parentStatusesScript } from './flow/hybrid-custody-templates.js';
import type { Ledger, LedgerAccount, LedgerEvent, LedgerTransactionRecord, SentTransaction, AccountLinks } from './ledger.js';

/** Public Access REST endpoints (openapi/access.yaml `servers`, without the /v1 suffix). */
export const FLOW_ACCESS_TESTNET_URL = 'https://rest-testnet.onflow.org';
export const FLOW_ACCESS_MAINNET_URL = 'https://rest-mainnet.onflow.org';
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface FlowAccessOptions {
  baseUrl: string;
  network: FlowNetwork;
  /** How often to poll for the sealed result, and how long to wait in all. */
  pollIntervalMs?: number;
  sealTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** `--ledger flow-testnet|flow-mainnet|URL` -> options. A bare URL is taken as an emulator unless told otherwise. */
export function flowAccessOptions(spec: string, network?: FlowNetwork): FlowAccessOptions {
  if (spec === 'flow-testnet') return { baseUrl: FLOW_ACCESS_TESTNET_URL, network: network ?? 'testnet' };
  if (spec === 'flow-mainnet') return { baseUrl: FLOW_ACCESS_MAINNET_URL, network: network ?? 'mainnet' };
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new LatchError('bad_ledger', 'ledger must be flow-testnet, flow-mainnet or an http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new LatchError('bad_ledger', 'ledger URL must be http or https');
  if (url.username || url.password || url.search || url.hash) throw new LatchError('bad_ledger', 'ledger URL must not carry credentials, a query or a fragment');
  return { baseUrl: url.toString().replace(/\/+$/, ''), network: parseNetwork(network ?? 'emulator') };
}

interface RestResult {
  status: string;
  error_message: string;
  events: { type: string; payload: string }[];
  block_id: string;
}

function apiError(message: string, status = 502): LatchError {
  return new LatchError('access_api_error', message, { status });
}

/** JSON-Cadence event payload -> flat name/value strings (best effort; the raw payload stays available). */
function eventValues(payloadB64: string): Record<string, string> {
  try {
    const ev = JSON.parse(new TextDecoder().decode(decodeBase64(payloadB64, 'event payload'))) as {
      value?: { fields?: { name: string; value: { value: unknown } }[] };
    };
    const out: Record<string, string> = {};
    for (const f of ev.value?.fields ?? []) {
      out[f.name] = typeof f.value?.value === 'string' ? f.value.value : JSON.stringify(f.value?.value);
    }
    return out;
  } catch {
    return {};
  }
}

/** The `value` of a JSON-Cadence value of `type`; `links_unavailable` for any other shape. */
function jsonCadence(v: unknown, type: 'Dictionary' | 'Array'): unknown[];
function jsonCadence(v: unknown, type: 'Bool'): boolean;
function jsonCadence(v: unknown, type: 'Dictionary' | 'Array' | 'Bool'): unknown {
  const o = v as { type?: unknown; value?: unknown } | null;
  const ok = o !== null && typeof o === 'object' && o.type === type && (type === 'Bool' ? typeof o.value === 'boolean' : Array.isArray(o.value));
  if (!ok) throw new LatchError('links_unavailable', `the Hybrid Custody script answered something other than a JSON-Cadence ${type}`);
  return o!.value;
}

function jsonCadenceAddress(v: unknown): string {
  const o = v as { type?: unknown; value?: unknown } | null;
  if (o === null || typeof o !== 'object' || o.type !== 'Address' || typeof o.value !== 'string' || !/^0x[0-9a-fA-F]{16}$/.test(o.value)) {
    throw new LatchError('links_unavailable', 'the Hybrid Custody script answered an address that is not a Flow address');
  }
  return o.value.toLowerCase();
}

export class FlowAccessLedger implements Ledger {
  readonly kind = 'flow-access' as const;
  readonly network: FlowNetwork;
  private readonly base: string;
  private readonly pollIntervalMs: number;
  private readonly sealTimeoutMs: number;
  private readonly requestTimeoutMs: number;

  constructor(opts: FlowAccessOptions) {
    const clean = flowAccessOptions(opts.baseUrl, opts.network);
    this.base = clean.baseUrl;
    this.network = clean.network;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.sealTimeoutMs = opts.sealTimeoutMs ?? 120_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
        redirect: 'error',
      });
    } catch (e) {
      throw apiError(`cannot reach the Flow Access API at ${this.base}`, 503);
    }
    const text = await res.text();
    if (text.length > MAX_RESPONSE_BYTES) throw apiError('Flow Access API response is too large');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw apiError(`Flow Access API answered ${res.status} with a body that is not JSON`);
    }
    if (res.status < 200 || res.status >= 300) {
      const msg = json !== null && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string' ? (json as { message: string }).message : '';
      if (res.status === 404) return { status: 404, json };
      throw new LatchError('access_api_error', `Flow Access API ${res.status}: ${msg.slice(0, 300)}`, { status: res.status >= 500 ? 502 : 400 });
    }
    return { status: res.status, json };
  }

  async getAccount(address: string): Promise<LedgerAccount> {
    const a = parseFlowAddress(address);
    const { status, json } = await this.call('GET', `/v1/accounts/${a.slice(2)}?expand=keys`);
    if (status === 404) throw new LatchError('unknown_account', `no account ${a} on ${this.network}`, { status: 404 });
    const acct = fromRestAccount(json);
    if (acct.address !== a) throw apiError('Flow Access API returned a different account than asked for');
    return { address: a, balance: unitsToUFix64(acct.balanceUnits), keys: acct.keys };
  }

  async createAccount(_keys: NewFlowAccountKey[], _initialBalance: string): Promise<string> {
    throw new LatchError('not_supported', 'on a real Flow network accounts are created by a funded payer; createAccount is for the embedded ledger only');
  }

  /**
   * Hybrid Custody links, read with two scripts (hybrid-custody-templates.ts) through the Access
   * API's `POST /v1/scripts` at the latest sealed block. An answer that is not the exact
   * JSON-Cadence shape the script returns is `links_unavailable`, never a guess.
   */
  async getLinks(address: string): Promise<AccountLinks> {
    const a = parseFlowAddress(address);
    const statuses = await this.runScript(parentStatusesScript(this.network), [cadenceArg.address(a)]);
    const children = await this.runScript(childAddressesScript(this.network), [cadenceArg.address(a)]);
    const parents = jsonCadence(statuses, 'Dictionary').map((e) => {
      const entry = e as { key?: unknown; value?: unknown };
      return { address: jsonCadenceAddress(entry.key), state: jsonCadence(entry.value, 'Bool') === true ? ('redeemed' as const) : ('published' as const) };
    });
    return { parents: parents.sort((x, y) => x.address.localeCompare(y.address)), children: jsonCadence(children, 'Array').map(jsonCadenceAddress).sort() };
  }

  /** JSON-Cadence value a script returns (the API answers it as a base64 JSON string). */
  private async runScript(script: string, args: string[]): Promise<unknown> {
    const b64 = (t: string): string => encodeBase64(new TextEncoder().encode(t));
    let answer: { status: number; json: unknown };
    try {
      answer = await this.call('POST', '/v1/scripts?block_height=sealed', { script: b64(script), arguments: args.map(b64) });
    } catch (e) {
      // An account view must not fail because links cannot be read (say, no Hybrid Custody there).
      if (e instanceof LatchError) throw new LatchError('links_unavailable', `the Flow Access API did not run the Hybrid Custody script: ${e.message}`);
      throw e;
    }
    const { status, json } = answer;
    if (status !== 200 || typeof json !== 'string') throw new LatchError('links_unavailable', `the Flow Access API did not run the Hybrid Custody script (${status})`);
    try {
      return JSON.parse(new TextDecoder().decode(decodeBase64(json, 'script result')));
    } catch {
      throw new LatchError('links_unavailable', 'the Flow Access API answered the Hybrid Custody script with something that is not JSON-Cadence');
    }
  }

  async latestBlockId(): Promise<string> {
    const { status, json } = await this.call('GET', '/v1/blocks?height=sealed');
    const first = Array.isArray(json) ? (json[0] as { header?: { id?: unknown } } | undefined) : undefined;
    if (status !== 200 || typeof first?.header?.id !== 'string') throw apiError('Flow Access API returned no sealed block');
    return canonicalHex(first.header.id, 'block id', 32);
  }

  async sendTransaction(tx: FlowTransaction): Promise<SentTransaction> {
    const n = normalizeTransaction(tx);
    const id = transactionId(n);
    const { json } = await this.call('POST', '/v1/transactions', toRestTransaction(n));
    const returned = json !== null && typeof json === 'object' ? (json as { id?: unknown }).id : undefined;
    if (typeof returned !== 'string' || canonicalHex(returned, 'transaction id', 32) !== id) {
      throw apiError('Flow Access API acknowledged a different transaction id than the one sent');
    }
    const deadline = Date.now() + this.sealTimeoutMs;
    for (;;) {
      let rec: { tx: FlowTransaction; result?: RestResult };
      try {
        rec = await this.fetchTransaction(id);
      } catch (e) {
        // Accepted but not seen since: it may still seal (ledger.ts sendOutcomeUnknown).
        throw new LatchError('transaction_unconfirmed', `transaction ${id} was accepted but its status could not be read (${(e as Error).message.slice(0, 200)}); look it up later by id`, { status: 504 });
      }
      if (rec.result !== undefined && rec.result.status === 'Sealed') {
        if (rec.result.error_message !== '') {
          throw new LatchError('transaction_failed', `transaction ${id} failed on ${this.network}: ${rec.result.error_message.slice(0, 500)}`);
        }
        return { id, status: 'sealed', events: this.events(rec.result) };
      }
      if (rec.result?.status === 'Expired') throw new LatchError('transaction_expired', `transaction ${id} expired before it was sealed`);
      if (Date.now() > deadline) throw new LatchError('seal_timeout', `transaction ${id} was not sealed in time; look it up later by id`, { status: 504 });
      await new Promise((r) => setTimeout(r, this.pollIntervalMs));
    }
  }

  private events(r: RestResult): LedgerEvent[] {
    return (Array.isArray(r.events) ? r.events : []).map((e) => ({ type: String(e.type), values: eventValues(String(e.payload)) }));
  }

  private async fetchTransaction(id: string): Promise<{ tx: FlowTransaction; result?: RestResult }> {
    const { status, json } = await this.call('GET', `/v1/transactions/${id}?expand=result`);
    if (status === 404) throw new LatchError('unknown_transaction', `no transaction ${id} on ${this.network}`, { status: 404 });
    const o = json as Record<string, unknown>;
    const { result, ...rest } = o ?? {};
    // fromRestTransaction checks that the id names these contents.
    const tx = fromRestTransaction(rest);
    if (transactionId(tx) !== id) throw apiError('Flow Access API returned a different transaction than asked for');
    if (result === undefined) return { tx };
    const r = result as RestResult;
    if (r === null || typeof r !== 'object' || typeof r.status !== 'string' || typeof r.error_message !== 'string') {
      throw apiError('Flow Access API returned a malformed transaction result');
    }
    return { tx, result: r };
  }

  async getTransaction(id: string): Promise<LedgerTransactionRecord> {
    const clean = canonicalHex(id, 'transaction id', 32);
    const rec = await this.fetchTransaction(clean);
    if (rec.result?.status !== 'Sealed') throw new LatchError('transaction_pending', `transaction ${clean} is not sealed yet`, { status: 409 });
    if (rec.result.error_message !== '') throw new LatchError('transaction_failed', `transaction ${clean} failed: ${rec.result.error_message.slice(0, 500)}`);
    return { id: clean, status: 'sealed', events: this.events(rec.result), transaction: rec.tx, blockId: canonicalHex(rec.result.block_id, 'block id', 32) };
  }

  async close(): Promise<void> {}
}

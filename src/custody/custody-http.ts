/**
 * The custody HTTP JSON API under /custody/v1 (docs/CUSTODY.md), composed into `latch server`
 * like the relay: handle(req, res) claims its paths and returns false for anything else.
 * Bodies are strict: application/json, at most 64 KiB, one JSON object with exactly the
 * fields the route takes. Errors are {error: {code, message}} with a stable code.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LatchError } from '../util/latch-error.js';
import { sendError, sendJson } from '../relay/relay-http.js';
import { CUSTODY_PREFIX } from './custody-api.js';
import { CustodyService, type CustodyOptions } from './custody-service.js';
import { clientAddress } from '../util/client-address.js';
import { CustodyRateLimits } from './custody-rate-limits.js';
import { RetryLaterError } from './retry-later-error.js';
import { parseEmail } from './dev-issuer.js';
import { RefusalCounter, REFUSAL_WINDOW_MS } from './refusal-counter.js';
import { ANCHOR_FILE, AuditAnchor } from './audit-anchor.js';
import { join } from 'node:path';

const MAX_BODY = 64 * 1024;

export interface Custody {
  readonly service: CustodyService;
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): Promise<void>;
}

type Body = Record<string, unknown>;
interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  /** Required and optional body fields (POST). */
  fields?: { required: string[]; optional?: string[] };
  auth: boolean;
  /** Per-IP login limit (and per-email for codes) before the body is looked at further. */
  login?: boolean;
  run: (ctx: { svc: CustodyService; params: string[]; body: Body; req: IncomingMessage; caller: Awaited<ReturnType<CustodyService['tokens']['verify']>>; limits: CustodyRateLimits }) => Promise<unknown>;
}

const ADDR = '(0x[0-9a-fA-F]{16})';
const ID = '([A-Za-z0-9_-]{22})';
const r = (path: string): RegExp => new RegExp(`^${CUSTODY_PREFIX}${path}$`);
const NO_CALLER = { email: '', device: '' };

const ROUTES: Route[] = [
  {
    method: 'POST', pattern: r('/login/start'), auth: false, login: true, fields: { required: ['email'] },
    run: ({ svc, body, limits }) => {
      limits.loginCode(parseEmail(body.email));
      return svc.loginStart(body.email);
    },
  },
  { method: 'POST', pattern: r('/login/complete'), auth: false, login: true, fields: { required: ['email', 'code', 'device_public_key', 'signature'] }, run: ({ svc, body }) => svc.loginComplete(body as never) },
  { method: 'POST', pattern: r('/login/oidc'), auth: false, login: true, fields: { required: ['id_token', 'device_public_key', 'signature'] }, run: ({ svc, body }) => svc.loginOidc(body as never) },
  {
    method: 'POST', pattern: r('/token/refresh'), auth: false, fields: { required: ['refresh_token'] },
    run: ({ svc, body }) => {
      if (typeof body.refresh_token !== 'string' || body.refresh_token.length > 200) throw new LatchError('unauthorized', 'refresh_token must be a string', { status: 401 });
      return svc.tokens.refresh(body.refresh_token);
    },
  },
  { method: 'POST', pattern: r('/accounts'), auth: true, fields: { required: ['device_name'], optional: ['recovery_public_key', 'inbox'] }, run: ({ svc, caller, body, req }) => svc.createAccount(caller, body as never, req.headers.host) },
  { method: 'GET', pattern: r(`/accounts/${ADDR}`), auth: true, run: ({ svc, caller, params }) => svc.getAccount(caller, params[0]) },
  { method: 'POST', pattern: r(`/accounts/${ADDR}/inbox`), auth: true, fields: { required: ['relay_url', 'queue_id', 'box_public_key', 'signed_at', 'signature'] }, run: ({ svc, caller, params, body, req }) => svc.registerInbox(caller, params[0], body, req.headers.host) },
  { method: 'POST', pattern: r(`/accounts/${ADDR}/cosign`), auth: true, fields: { required: ['transaction'] }, run: ({ svc, caller, params, body }) => svc.cosign(caller, params[0], body as never) },
  { method: 'POST', pattern: r(`/accounts/${ADDR}/submit`), auth: true, fields: { required: ['transaction'] }, run: ({ svc, caller, params, body }) => svc.submit(caller, params[0], body as never) },
  {
    method: 'POST', pattern: r(`/accounts/${ADDR}/joins`), auth: true, fields: { required: ['device_name'] },
    run: ({ svc, caller, params, body, req }) => svc.joinStart(caller, params[0], body as never, originOf(req)),
  },
  { method: 'GET', pattern: r(`/joins/${ID}`), auth: true, run: ({ svc, caller, params }) => svc.joinStatus(caller, params[0]) },
  { method: 'POST', pattern: r(`/joins/${ID}/approve`), auth: true, fields: { required: ['transaction'] }, run: ({ svc, caller, params, body }) => svc.joinApprove(caller, params[0], body as never) },
  { method: 'POST', pattern: r(`/joins/${ID}/deny`), auth: true, fields: { required: [] }, run: ({ svc, caller, params }) => svc.joinDeny(caller, params[0]) },
  { method: 'POST', pattern: r(`/accounts/${ADDR}/sign-requests`), auth: true, fields: { required: ['transaction'] }, run: ({ svc, caller, params, body }) => svc.signRequestStart(caller, params[0], body as never) },
  { method: 'GET', pattern: r(`/sign-requests/${ID}`), auth: true, run: ({ svc, caller, params }) => svc.signRequestStatus(caller, params[0]) },
  { method: 'POST', pattern: r(`/sign-requests/${ID}/approve`), auth: true, fields: { required: ['key_index', 'signature'] }, run: ({ svc, caller, params, body }) => svc.signRequestApprove(caller, params[0], body as never) },
  { method: 'POST', pattern: r(`/sign-requests/${ID}/deny`), auth: true, fields: { required: [] }, run: ({ svc, caller, params }) => svc.signRequestDeny(caller, params[0]) },
  { method: 'POST', pattern: r(`/accounts/${ADDR}/recoveries`), auth: true, fields: { required: ['transaction', 'device_name'] }, run: ({ svc, caller, params, body }) => svc.recoverStart(caller, params[0], body as never) },
  { method: 'POST', pattern: r(`/recoveries/${ID}/complete`), auth: true, fields: { required: ['transaction'] }, run: ({ svc, caller, params, body }) => svc.recoverComplete(caller, params[0], body as never) },
  { method: 'POST', pattern: r(`/recoveries/${ID}/cancel`), auth: true, fields: { required: [] }, run: ({ svc, caller, params }) => svc.recoverCancel(caller, params[0]) },
  // Account linking (custody-links.ts): the child's link / unlink name their parent.
  { method: 'POST', pattern: r(`/accounts/${ADDR}/links`), auth: true, fields: { required: ['parent', 'transaction'] }, run: ({ svc, caller, params, body }) => svc.link(caller, params[0], body as never) },
  { method: 'POST', pattern: r(`/accounts/${ADDR}/unlinks`), auth: true, fields: { required: ['parent', 'transaction'] }, run: ({ svc, caller, params, body }) => svc.unlink(caller, params[0], body as never) },
  { method: 'POST', pattern: r('/self-custody-accounts'), auth: true, fields: { required: ['public_key', 'signature_algorithm', 'hash_algorithm'] }, run: ({ svc, caller, body }) => svc.createSelfCustodyAccount(caller, body as never) },
  // The parent side: any ledger account, and a parent's own signed transactions (no token: the
  // parent is not a user of this server; its signatures are what the ledger checks).
  { method: 'GET', pattern: r(`/ledger/accounts/${ADDR}`), auth: false, run: ({ svc, params }) => svc.ledgerAccount(params[0]) },
  { method: 'POST', pattern: r('/ledger/transactions'), auth: false, fields: { required: ['transaction'] }, run: ({ svc, body }) => svc.submitAsParent(body as never) },
];

/**
 * Where a join request came from, as shown to the approving device: only what the server itself
 * observed (the client address, --trusted-proxy aware). The User-Agent is the requester's own
 * words and was used to write "this is YOUR OWN device" on the card (issue 15 §4).
 */
function originOf(req: IncomingMessage): string {
  return clientAddress(req);
}

/** Past this much of an oversized body, stop reading and drop the connection. */
const MAX_DRAIN_BYTES = 1024 * 1024;

/**
 * The body, at most MAX_BODY bytes. A larger one is refused with the documented 413
 * (issue 15 §6): the rest is read and dropped, so the client finishes sending and reads the
 * answer instead of a connection reset; only past MAX_DRAIN_BYTES is the connection cut.
 */
function readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const tooLarge = (): void => {
      res.shouldKeepAlive = false;
      reject(new LatchError('body_too_large', `the body is larger than ${MAX_BODY} bytes`, { status: 413 }));
    };
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) {
      tooLarge();
      req.on('data', (c: Buffer) => {
        n += c.length;
        if (n > MAX_DRAIN_BYTES) req.destroy();
      });
      req.on('error', () => {});
      return;
    }
    let refused = false;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        if (!refused) {
          refused = true;
          chunks.length = 0;
          tooLarge();
        }
        if (n > MAX_DRAIN_BYTES) req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Strict JSON object body with exactly the route's fields. */
export function parseJsonBody(raw: Buffer, contentType: string | undefined, fields: { required: string[]; optional?: string[] }): Body {
  if (!/^application\/json(\s*;\s*charset=utf-8)?$/i.test(contentType ?? '')) throw new LatchError('bad_content_type', 'send Content-Type: application/json', { status: 415 });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new LatchError('bad_json', 'the body is not valid UTF-8');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new LatchError('bad_json', `the body is not valid JSON (${(e as Error).message.slice(0, 100)})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new LatchError('bad_json', 'the body must be a JSON object');
  const o = v as Body;
  for (const k of Object.keys(o)) {
    if (!fields.required.includes(k) && !(fields.optional ?? []).includes(k)) throw new LatchError('unknown_field', `unknown field "${k.slice(0, 40)}"`);
  }
  for (const k of fields.required) if (!(k in o)) throw new LatchError('missing_field', `missing field "${k}"`);
  return o;
}

export async function createCustody(opts: CustodyOptions): Promise<Custody> {
  const svc = await CustodyService.open(opts);
  const limits = new CustodyRateLimits();
  const refusals = new RefusalCounter((e) => void svc.audit(e).catch((err: Error) => opts.log(`custody audit of a refused request failed: ${err.message}`)));
  // The log's head is signed into a file the database writer cannot rewrite (audit-anchor.ts).
  const anchor = await AuditAnchor.open(svc.db, opts.vault, opts.sodium, join(opts.dataDir, ANCHOR_FILE));
  const head = await anchor.record();
  opts.log(`custody audit log: head ${head ? `${head.seq} ${head.head}` : 'empty'}, anchor key ${anchor.publicKey}`);
  let closed = false;
  const anchorNow = (): Promise<void> =>
    closed
      ? Promise.resolve()
      : anchor.record().then(
          () => undefined,
          (e: Error) => opts.log(`custody audit anchor could not be written: ${e.message}`),
        );
  const sweep = setInterval(() => {
    refusals.sweep();
    void anchorNow();
  }, REFUSAL_WINDOW_MS);
  sweep.unref();
  const inflight = new Set<Promise<void>>();
  return {
    service: svc,
    handle(req, res) {
      const url = req.url ?? '';
      const path = url.split('?')[0]!;
      if (!path.startsWith(CUSTODY_PREFIX + '/')) return false;
      const matching = ROUTES.filter((x) => x.pattern.test(path));
      const route = matching.find((x) => x.method === req.method);
      if (!route) {
        if (matching.length > 0) sendError(res, 405, 'method_not_allowed', `use ${matching.map((m) => m.method).join(' or ')}`);
        else sendError(res, 404, 'not_found', 'no such custody route');
        return true;
      }
      const params = route.pattern.exec(path)!.slice(1).map((p) => (p.startsWith('0x') ? p.toLowerCase() : p));
      const p = (async () => {
        let reachedService = false;
        try {
          limits.request(clientAddress(req));
          if (route.login) limits.login(clientAddress(req));
          const raw = route.method === 'POST' ? await readBody(req, res) : Buffer.alloc(0);
          const body = route.fields ? parseJsonBody(raw, req.headers['content-type'], route.fields) : {};
          const caller = route.auth ? await svc.tokens.verify(req.headers.authorization) : NO_CALLER;
          reachedService = true;
          sendJson(res, 200, await route.run({ svc, params, body, req, caller, limits }));
        } catch (e) {
          // Every decision is audited (issue 4), also a request turned away before the service
          // saw it (bad token, bad body) on a route that would change an account.
          // Counted per address and minute, not one row each (refusal-counter.ts).
          // The database being away (custody_db_unavailable) is no refusal of the client's, and there is no log to write to.
          if (!reachedService && route.auth && route.method === 'POST' && e instanceof LatchError && e.code !== 'custody_db_unavailable') {
            const account = params.find((x) => x.startsWith('0x')) ?? null;
            refusals.refuse(clientAddress(req), { account, action: path.split('/').pop() ?? 'request', decision: 'refused', detail: { code: e.code, reason: e.message } });
          }
          if (e instanceof LatchError) {
            sendError(res, e.status, e.code, e.message, e instanceof RetryLaterError ? { 'retry-after': String(e.retryAfterSeconds) } : {});
          } else {
            opts.log(`custody internal error: ${e instanceof Error ? e.message : String(e)}`);
            sendError(res, 500, 'internal', 'internal server error');
          }
        }
      })();
      inflight.add(p);
      void p.finally(() => {
        inflight.delete(p);
        void anchorNow();
      });
      return true;
    },
    async close() {
      await Promise.allSettled([...inflight]);
      clearInterval(sweep);
      refusals.sweep(Date.now(), true);
      await anchorNow();
      closed = true;
      await svc.notices.close();
      await svc.close();
      await opts.ledger.close();
    },
  };
}

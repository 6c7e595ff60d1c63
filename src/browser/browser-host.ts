/**
 * `latch browser host`: the native-messaging host the Latch extension starts (issue 11,
 * docs/BROWSER.md). It reads framed JSON requests on stdin and writes framed answers on stdout:
 *   in:  {"v":1,"id","op":"create"|"get","origin","cross_origin","top_origin"?,"options"}
 *        {"v":1,"id","op":"abort"}
 *   out: {"v":1,"id","type":"ack"}                              the authenticator is asking
 *        {"v":1,"id","type":"result","credential":{...}}        RegistrationResponseJSON / AuthenticationResponseJSON
 *        {"v":1,"id","type":"error","name","code","message","fallback"}
 * `origin`, `cross_origin` and `top_origin` come from the extension's service worker, which
 * takes them from the browser (sender), never from the page. A malformed message gets an error
 * (id null when it has none) and the host keeps reading. It uses this computer's pairing and
 * the relay like `latch agent`. A site on the user's exclusion list (excluded-sites.ts) is
 * answered `excluded_site` (fallback) at once, before the pairing or the relay is touched.
 */
import { isLatchError, LatchError } from '../util/latch-error.js';
import { FALLBACK_CODES, domExceptionNameFor } from '../protocol/webauthn/webauthn-errors.js';
import { encodeNativeMessage, NativeMessageReader } from './native-message-reader.js';
import { createCredential, getAssertion, type CallerContext, type WebauthnTransport } from './webauthn-client.js';

export interface BrowserHostOptions {
  input: NodeJS.ReadableStream;
  write: (bytes: Uint8Array) => void;
  /** The pairing's client, or a LatchError (`not_paired`) when this computer has none. */
  transport: () => Promise<WebauthnTransport>;
  browser: string;
  log: (line: string) => void;
  /** Whether the user left this origin's site to the browser's own authenticator. */
  excluded?: (origin: string) => boolean;
}

interface HostRequest {
  id: string;
  op: 'create' | 'get';
  ctx: CallerContext;
  options: unknown;
}

function parseRequest(x: unknown, browser: string): HostRequest | { id: string; op: 'abort' } {
  const o = x as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.v !== 1 || typeof o.id !== 'string' || o.id.length === 0 || o.id.length > 64) {
    throw new LatchError('bad_native_message', 'a native message needs v 1 and an id');
  }
  if (o.op === 'abort') return { id: o.id, op: 'abort' };
  if (o.op !== 'create' && o.op !== 'get') throw new LatchError('bad_native_message', 'op must be create, get or abort');
  if (typeof o.origin !== 'string' || typeof o.cross_origin !== 'boolean' || (o.top_origin !== undefined && typeof o.top_origin !== 'string')) {
    throw new LatchError('bad_native_message', 'origin, cross_origin (and top_origin) are required');
  }
  const ctx: CallerContext = { origin: o.origin, crossOrigin: o.cross_origin, browser };
  if (o.cross_origin && typeof o.top_origin === 'string') ctx.topOrigin = o.top_origin;
  return { id: o.id, op: o.op, ctx, options: o.options };
}

export function errorAnswer(id: string | null, e: unknown): Record<string, unknown> {
  const code = isLatchError(e) ? e.code : 'internal_error';
  const message = isLatchError(e) ? e.message : 'the Latch host failed';
  return { v: 1, id, type: 'error', name: domExceptionNameFor(code), code, message, fallback: FALLBACK_CODES.has(code) };
}

/** Serve until stdin ends; resolves when every request in flight has been answered. */
export async function runBrowserHost(o: BrowserHostOptions): Promise<void> {
  const send = (m: unknown): void => o.write(encodeNativeMessage(m));
  const running = new Map<string, AbortController>();
  const all: Promise<void>[] = [];
  const reader = new NativeMessageReader();
  const handle = (value: unknown): void => {
    let req;
    try {
      req = parseRequest(value, o.browser);
    } catch (e) {
      const id = typeof (value as { id?: unknown })?.id === 'string' ? ((value as { id: string }).id) : null;
      send(errorAnswer(id, e));
      return;
    }
    if (req.op === 'abort') {
      running.get(req.id)?.abort();
      return;
    }
    if (running.has(req.id)) {
      send(errorAnswer(req.id, new LatchError('bad_native_message', 'a request with this id is already running')));
      return;
    }
    const abort = new AbortController();
    running.set(req.id, abort);
    const r = req;
    all.push(
      (async () => {
        try {
          // The asking frame's site, or the site it is embedded in: either on the list steps aside.
          const site = [r.ctx.origin, ...(r.ctx.topOrigin ? [r.ctx.topOrigin] : [])].find((x) => o.excluded?.(x));
          if (site !== undefined) throw new LatchError('excluded_site', `${new URL(site).hostname} is on this computer's exclusion list (latch browser exclude)`);
          const t = await o.transport();
          const co = { signal: abort.signal, onAck: () => send({ v: 1, id: r.id, type: 'ack' }) };
          const credential = r.op === 'create' ? await createCredential(t, r.ctx, r.options, co) : await getAssertion(t, r.ctx, r.options, co);
          send({ v: 1, id: r.id, type: 'result', credential });
        } catch (e) {
          o.log(`${r.op} for ${r.ctx.origin.slice(0, 100)}: ${isLatchError(e) ? `${e.code}: ${e.message}` : String(e)}`);
          send(errorAnswer(r.id, e));
        } finally {
          running.delete(r.id);
        }
      })(),
    );
  };
  await new Promise<void>((resolve) => {
    o.input.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.ok) handle(f.value);
        else send(errorAnswer(null, f.error));
      }
    });
    o.input.once('end', resolve);
    o.input.once('error', resolve);
  });
  // The browser closed the port: nobody is waiting for answers any more.
  for (const a of running.values()) a.abort();
  await Promise.allSettled(all);
}

/**
 * The service worker (issue 11): one runtime port per page request, and one native port to
 * `latch browser host` shared by all requests while any is open (requests carry an id), so the
 * host's start-up and its relay connection are paid once, not per request. The origin comes
 * ONLY from the browser: port.sender.origin (or the origin of port.sender.url), and the
 * top-level origin from port.sender.tab.url; a frame is cross-origin when its origin differs
 * from the top's. Nothing the page sent names the site.
 */
import { NATIVE_HOST_NAME } from './protocol.js';

function originOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Requests waiting on the host, by id: how to hand each one its answers. */
const waiting = new Map<string, (answer: { type: string; [k: string]: unknown }) => void>();
let native: chrome.runtime.Port | undefined;

function host(): chrome.runtime.Port {
  clearTimeout(idle);
  if (native) return native;
  const port = chrome.runtime.connectNative(NATIVE_HOST_NAME);
  port.onMessage.addListener((m) => {
    const a = m as { id?: string; type: string };
    if (typeof a.id === 'string') waiting.get(a.id)?.(a);
  });
  port.onDisconnect.addListener(() => {
    native = undefined;
    // No host installed, or it exited: the browser's own authenticator may still help.
    const message = chrome.runtime.lastError?.message ?? 'latch browser host stopped';
    for (const deliver of [...waiting.values()]) deliver({ type: 'error', name: 'NotAllowedError', code: 'host_missing', message, fallback: true });
  });
  native = port;
  return port;
}

/** Kept this long after the last answer, so a sign-in right after a registration reuses it. */
const HOST_IDLE_MS = 30_000;
let idle: ReturnType<typeof setTimeout> | undefined;

/** Close the host once nothing has waited for a while, so it does not outlive its use. */
function release(id: string): void {
  waiting.delete(id);
  clearTimeout(idle);
  if (waiting.size > 0) return;
  idle = setTimeout(() => {
    if (waiting.size === 0 && native) {
      native.disconnect();
      native = undefined;
    }
  }, HOST_IDLE_MS);
}

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== 'webauthn') return;
  const sender = port.sender ?? {};
  const origin = sender.origin ?? originOf(sender.url);
  const top = sender.frameId === 0 ? origin : originOf(sender.tab?.url);
  const id = crypto.randomUUID();
  let started = false;
  port.onMessage.addListener((msg) => {
    const m = msg as { op: 'create' | 'get' | 'abort'; options?: unknown };
    if (m.op === 'abort') {
      if (waiting.has(id)) native?.postMessage({ v: 1, id, op: 'abort' });
      return;
    }
    if (started) return;
    started = true;
    if (origin === undefined || origin === 'null') {
      port.postMessage({ type: 'error', name: 'NotAllowedError', code: 'bad_origin', message: 'this page has no origin Latch can name', fallback: false });
      return;
    }
    const crossOrigin = top !== undefined && top !== origin;
    waiting.set(id, (answer) => {
      if (answer.type !== 'ack') release(id);
      port.postMessage(answer);
    });
    host().postMessage({ v: 1, id, op: m.op, origin, cross_origin: crossOrigin, ...(crossOrigin ? { top_origin: top } : {}), options: m.options });
  });
  port.onDisconnect.addListener(() => {
    // The page went away: stop asking the authenticator.
    if (waiting.has(id)) {
      native?.postMessage({ v: 1, id, op: 'abort' });
      release(id);
    }
  });
});

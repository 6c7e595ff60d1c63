/**
 * The service worker (issue 11): one runtime port per page request, one native port to
 * `latch browser host` per request. The origin comes ONLY from the browser: port.sender.origin
 * (or the origin of port.sender.url), and the top-level origin from port.sender.tab.url; a
 * frame is cross-origin when its origin differs from the top's. Nothing the page sent names
 * the site.
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

chrome.runtime.onConnect.addListener((port) => {
  if (port.name !== 'webauthn') return;
  const sender = port.sender ?? {};
  const origin = sender.origin ?? originOf(sender.url);
  const top = sender.frameId === 0 ? origin : originOf(sender.tab?.url);
  const id = crypto.randomUUID();
  let native: chrome.runtime.Port | undefined;
  let done = false;
  const fail = (code: string, message: string, fallback: boolean): void => {
    if (done) return;
    done = true;
    port.postMessage({ type: 'error', name: 'NotAllowedError', code, message, fallback });
  };
  port.onMessage.addListener((msg) => {
    const m = msg as { op: 'create' | 'get' | 'abort'; options?: unknown };
    if (m.op === 'abort') {
      native?.postMessage({ v: 1, id, op: 'abort' });
      return;
    }
    if (native) return;
    if (origin === undefined || origin === 'null') return fail('bad_origin', 'this page has no origin Latch can name', false);
    const crossOrigin = top !== undefined && top !== origin;
    native = chrome.runtime.connectNative(NATIVE_HOST_NAME);
    native.onMessage.addListener((answer) => {
      const a = answer as { type: string };
      if (a.type !== 'ack') done = true;
      port.postMessage(answer);
      if (done) native?.disconnect();
    });
    native.onDisconnect.addListener(() => {
      // No host installed, or it exited without answering: the browser's own authenticator may still help.
      fail('host_missing', chrome.runtime.lastError?.message ?? 'latch browser host stopped', true);
    });
    native.postMessage({ v: 1, id, op: m.op, origin, cross_origin: crossOrigin, ...(crossOrigin ? { top_origin: top } : {}), options: m.options });
  });
  port.onDisconnect.addListener(() => {
    // The page went away: stop asking the authenticator.
    if (!done) native?.postMessage({ v: 1, id, op: 'abort' });
    native?.disconnect();
  });
});

/**
 * The messages between the extension's three parts (docs/BROWSER.md "Inside the extension"):
 * page script <-> bridge over window.postMessage (same window only), bridge <-> service worker
 * over one runtime port per request, service worker <-> `latch browser host` over native
 * messaging (src/browser/browser-host.ts).
 */
export const NATIVE_HOST_NAME = 'dev.latch.browser';
/** Tag on window messages, so the bridge ignores everything else a page posts. */
export const CHANNEL = 'latch-webauthn-v1';

export interface PageRequest {
  channel: typeof CHANNEL;
  dir: 'to-latch';
  id: string;
  op: 'create' | 'get' | 'abort';
  options?: unknown;
}

export interface PageAnswer {
  channel: typeof CHANNEL;
  dir: 'from-latch';
  id: string;
  type: 'ack' | 'result' | 'error';
  credential?: unknown;
  name?: string;
  code?: string;
  message?: string;
  fallback?: boolean;
}

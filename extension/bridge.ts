/**
 * The isolated-world bridge (issue 11): carries the page script's requests to the service worker
 * and the answers back. It takes messages only from its own window (event.source === window)
 * and tagged with the Latch channel; it adds nothing about the page, because the service worker
 * takes the origin from the browser, not from here.
 */
import { CHANNEL, type PageAnswer, type PageRequest } from './protocol.js';

const ports = new Map<string, chrome.runtime.Port>();

function answer(a: Omit<PageAnswer, 'channel' | 'dir'>): void {
  window.postMessage({ channel: CHANNEL, dir: 'from-latch', ...a } satisfies PageAnswer, window.location.origin === 'null' ? '*' : window.location.origin);
}

window.addEventListener('message', (event: MessageEvent) => {
  if (event.source !== window) return;
  const m = event.data as PageRequest;
  if (typeof m !== 'object' || m === null || m.channel !== CHANNEL || m.dir !== 'to-latch' || typeof m.id !== 'string') return;
  if (m.op === 'abort') {
    ports.get(m.id)?.postMessage({ op: 'abort' });
    return;
  }
  let port: chrome.runtime.Port;
  try {
    port = chrome.runtime.connect({ name: 'webauthn' });
  } catch {
    // The extension was reloaded under this page: let the browser's own authenticator answer.
    answer({ id: m.id, type: 'error', name: 'NotAllowedError', code: 'host_missing', message: 'the Latch extension is not reachable', fallback: true });
    return;
  }
  ports.set(m.id, port);
  let settled = false;
  port.onMessage.addListener((msg) => {
    const a = msg as Omit<PageAnswer, 'channel' | 'dir' | 'id'>;
    if (a.type !== 'ack') settled = true;
    answer({ ...a, id: m.id });
    if (settled) {
      ports.delete(m.id);
      port.disconnect();
    }
  });
  port.onDisconnect.addListener(() => {
    ports.delete(m.id);
    if (!settled) answer({ id: m.id, type: 'error', name: 'NotAllowedError', code: 'host_missing', message: 'the Latch extension stopped', fallback: true });
  });
  port.postMessage({ op: m.op, options: m.options });
});

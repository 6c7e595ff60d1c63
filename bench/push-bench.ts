/**
 * Issue 14: the time from a message being stored on the relay to the notification being shown by
 * the web authenticator's service worker with the app closed (Web Push through the stand-in for
 * Mozilla's push service on loopback, Firefox ESR), p50/p99 over 20 pushes; beside it the socket
 * path (stored -> delivered to a reader subscribed on the relay's WebSocket, the app-open case).
 *
 * "Stored" is taken when the send is made (the relay answers 201 after the commit and starts the
 * push from the same commit), "shown" is the service worker's own Date.now() as it showed the
 * notification (same machine, same clock). The pushed messages are opaque bytes, as any sender may
 * send: the worker still reads its IndexedDB and tries to open each one before it shows it.
 */
import { existsSync } from 'node:fs';
import { sodiumReady } from '../src/protocol/sodium.js';
import { queueIdFromPublicKey } from '../src/protocol/queue-id.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { FIREFOX, pushPrefs, startFirefox, writeUserJs, type Firefox } from '../test/helpers/firefox-bidi.js';
import { startPushServiceStandIn } from '../test/helpers/push-service-standin.js';
import { pct, run, tmp } from './webauthn-bench.js';

const PUSHES = 20;
const f = (x: number): string => `${x.toFixed(1)} ms`;

async function until<T>(ff: Firefox, tab: string, fn: string, ...args: (string | number)[]): Promise<T> {
  for (let i = 0; i < 1200; i++) {
    const v = await ff.evaluate<T>(tab, fn, ...args).catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('bench: timed out waiting in Firefox');
}

export async function pushBench(): Promise<string[]> {
  if (!existsSync(FIREFOX)) return [`skipped: ${FIREFOX} is not installed`];
  const standin = await startPushServiceStandIn();
  const serverHome = tmp('push-server');
  // The server trusts the stand-in's throwaway CA (its HTTPS side), as a real one trusts public CAs.
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = standin.caFile;
  const server = run(['server', '--listen', '127.0.0.1:0', '--data', serverHome, '--rate-limit', 'off', '--push-service', standin.endpointHost], serverHome);
  if (extraCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
  else process.env.NODE_EXTRA_CA_CERTS = extraCa;
  let ff: Firefox | undefined;
  try {
    const url = (await server.wait(/listening on (http:\/\/\S+)/, 'stdout'))[1]!;
    const profile = tmp('push-firefox');
    writeUserJs(profile, pushPrefs(standin.wsUrl));
    ff = await startFirefox(profile);
    const tab = (await ff.tabs())[0]!.context;
    await ff.navigate(tab, `${url}/app/`);
    await until(ff, tab, `async () => document.body.dataset.ready === 'true'`);
    const computer = tmp('push-laptop');
    const pair = run(['pair', '--server', url, '--uri-only', '--timeout', '60', '--name', 'laptop'], computer);
    const link = (await pair.wait(/^latch:\S+/m, 'stdout'))[0];
    await ff.evaluate(tab, `async (link) => { location.hash = 'pair'; document.getElementById('pairing-link').value = link; document.getElementById('pair').click(); }`, link);
    await until(ff, tab, `async () => document.getElementById('push-status').dataset.push === 'on'`);
    const queue = await ff.evaluate<string>(tab, `async () => new Promise((resolve) => {
      const open = indexedDB.open('latch-web');
      open.onsuccess = () => { const g = open.result.transaction('kv').objectStore('kv').get('pairings'); g.onsuccess = () => resolve(g.result[0].id); };
    })`);
    // The app closed: a page outside the app (its icon) reads the worker's notifications.
    await ff.navigate(tab, `${url}/app/icon.svg`);
    const body = new Uint8Array(200).fill(7);
    const send = async (): Promise<string | undefined> => {
      const res = await fetch(`${url}/v1/queues/${queue}/messages`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
      return ((await res.json()) as { reader?: string }).reader;
    };
    // The closed page's WebSocket takes a moment to reach the relay: until it has, a send is "live".
    while ((await send()) !== 'push') await new Promise((r) => setTimeout(r, 50));
    const pushTimes: number[] = [];
    for (let i = 0; i < PUSHES; i++) {
      await ff.evaluate(tab, `async () => { const r = await navigator.serviceWorker.getRegistration('/app/'); for (const n of await r.getNotifications()) n.close(); return true; }`);
      const t0 = Date.now();
      if ((await send()) !== 'push') throw new Error('bench: the relay did not push');
      const shownAt = await until<number>(ff, tab, `async (t0) => {
        const r = await navigator.serviceWorker.getRegistration('/app/');
        const n = (await r.getNotifications()).find((x) => x.data && x.data.shownAt >= t0);
        return n ? n.data.shownAt : 0;
      }`, t0);
      pushTimes.push(shownAt - t0);
    }
    pushTimes.sort((a, b) => a - b);
    // The socket path on the same relay: a reader subscribed over the WebSocket (deliver: true).
    const sodium = await sodiumReady();
    const kp = sodium.crypto_sign_keypair();
    const key = { publicKey: kp.publicKey, secretKey: kp.privateKey };
    const sockQueue = queueIdFromPublicKey(sodium, key.publicKey);
    const reader = new RelayClient({ url });
    const sender = new RelayClient({ url });
    const ctl = new AbortController();
    const it = reader.inbox(key, { signal: ctl.signal })[Symbol.asyncIterator]();
    await sender.send(sockQueue, body); // warm-up: the reader's socket is up once this arrives
    const first = await it.next();
    await reader.ack(key, [first.value!.id]);
    const sockTimes: number[] = [];
    for (let i = 0; i < PUSHES; i++) {
      const t0 = performance.now();
      await fetch(`${url}/v1/queues/${sockQueue}/messages`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
      const m = await it.next();
      sockTimes.push(performance.now() - t0);
      await reader.ack(key, [m.value!.id]);
    }
    ctl.abort();
    // The inbox is suspended at a yield, where the abort cannot reach it: ending the iterator runs
    // its cleanup, which lets go of the socket (else it reconnects to the stopped relay for ever,
    // and `npm run bench` never exits).
    await it.return?.();
    sockTimes.sort((a, b) => a - b);
    return [
      `  ${PUSHES} requests, 200-byte envelopes, one relay (latch server) on loopback:`,
      `  app closed, Web Push (stored -> service worker shows the notification, Firefox ESR, push service stand-in): p50 ${f(pct(pushTimes, 50))}, p99 ${f(pct(pushTimes, 99))}`,
      `  app open, WebSocket (stored -> delivered to the subscribed reader):                                     p50 ${f(pct(sockTimes, 50))}, p99 ${f(pct(sockTimes, 99))}`,
    ];
  } finally {
    await ff?.quit().catch(() => undefined);
    server.child.kill();
    await standin.close();
  }
}

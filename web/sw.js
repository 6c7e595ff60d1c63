/* Latch web authenticator service worker: keeps the app shell available offline.
 * Shell files are cached at install; requests for them are answered network-first (so an
 * update is seen at once when online) and fall back to the cache when offline. The relay
 * (/v1/...) is never cached. SHELL_VERSION is replaced by web/build.mjs with a content hash. */
const CACHE = 'latch-shell-SHELL_VERSION';
// Not zxing_reader.wasm (the QR decoder, ~930 KB): pairing needs the relay, so a scanner is no use
// offline, and Chrome on Android decodes with BarcodeDetector instead; the fetch handler below
// caches it once a scan has used it.
const SHELL = ['./', './index.html', './app.js', './app.css', './manifest.webmanifest', './icon.svg'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('latch-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  event.respondWith(
    fetch(req)
      .then((res) => {
        if (res.ok) {
          const copy = res.clone();
          void caches.open(CACHE).then((c) => c.put(req, copy));
        }
        return res;
      })
      .catch(() => caches.match(req, { ignoreSearch: true }).then((hit) => hit ?? caches.match('./index.html'))),
  );
});

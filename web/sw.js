/* Latch web authenticator service worker: keeps the app shell available offline.
 * Shell files are cached at install; requests for them are answered network-first (so an
 * update is seen at once when online) and fall back to the cache when offline. Nothing else is
 * cached: not the relay or custody API, and not the shell under other URLs (a query string is
 * dropped from the cache key), so the cache holds one copy of each shell file and no more.
 * web/shell-stamp.mjs replaces the quoted placeholder below with the shell's content hash: a new
 * build is a new cache, and activating it deletes every older latch-shell-* cache. */
const SHELL_VERSION = '__LATCH_SHELL_VERSION__';
const CACHE = `latch-shell-${SHELL_VERSION}`;
// Not zxing_reader.wasm (the QR decoder, ~930 KB): pairing needs the relay, so a scanner is no use
// offline, and Chrome on Android decodes with BarcodeDetector instead; it is cached once a scan
// has used it.
const SHELL = ['./', './index.html', './app.js', './sw-push.js', './app.css', './manifest.webmanifest', './icon.svg'];
const CACHED_LATER = ['./zxing_reader.wasm'];

// Push wake-ups (issue 14): 'push', 'notificationclick' and 'pushsubscriptionchange' live in
// sw-push.js (bundled from web/sw-push.ts with libsodium, to open envelopes). Loaded at the
// top level, as importScripts must be, so a woken worker has its handlers from the first event.
importScripts('./sw-push.js');

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => ((own = Promise.resolve(c)), c.addAll(SHELL))).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('latch-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// The page asks which build it runs (shown on the Keys screen; a change is announced).
self.addEventListener('message', (event) => {
  if (event.data === 'latch-shell-version') event.source?.postMessage({ shellVersion: SHELL_VERSION });
});

/**
 * This build's cache, opened once: once a newer build has activated and deleted it, a fetch still
 * finishing here writes into the deleted cache object, never bringing the name back.
 */
let own;
function ownCache() {
  own ??= caches.has(CACHE).then((has) => (has ? caches.open(CACHE) : undefined));
  return own;
}

/** The cache key of a shell file at `url` (query and fragment dropped), or undefined: not cached. */
function shellKey(url) {
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return undefined;
  const rel = `./${url.pathname.slice(scope.pathname.length)}`;
  return SHELL.includes(rel) || CACHED_LATER.includes(rel) ? new URL(rel, scope).href : undefined;
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const key = shellKey(new URL(req.url));
  if (key === undefined) return;
  event.respondWith(
    fetch(req)
      .then((res) => {
        if (res.ok) {
          const copy = res.clone();
          void ownCache().then((c) => c?.put(key, copy));
        }
        return res;
      })
      .catch(() => caches.match(key).then((hit) => hit ?? caches.match(new URL('./', self.registration.scope).href))),
  );
});

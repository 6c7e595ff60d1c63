// Builds the web authenticator into dist/web/: esbuild bundles web/app.ts (with src/protocol,
// src/transport and src/web) for the browser; the static files are copied beside it.
// Run by `npm run build` after tsc. `latch server` serves dist/web at /app/.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stampShell } from './shell-stamp.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'web');
const STATIC = ['index.html', 'app.css', 'manifest.webmanifest', 'icon.svg'];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const common = {
  bundle: true,
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'linked',
  // relay-client loads `ws` only where there is no global WebSocket (Node); browsers have one.
  external: ['ws'],
  logLevel: 'warning',
};
await build({ ...common, entryPoints: [join(here, 'app.ts')], outfile: join(out, 'app.js'), format: 'esm' });
// The service worker's push side (issue 14): its own classic-script bundle, loaded by sw.js with
// importScripts, so the worker opens envelopes with the same src/protocol code as the page.
await build({ ...common, entryPoints: [join(here, 'sw-push.ts')], outfile: join(out, 'sw-push.js'), format: 'iife' });
for (const f of STATIC) copyFileSync(join(here, f), join(out, f));
// The QR decoder's WebAssembly (web/ui/qr-scanner.ts loads it beside app.js): served by us, never
// from the CDN zxing-wasm defaults to. Not a shell file: sw.js caches it once a scan has used it.
const zxingWasm = createRequire(import.meta.url).resolve('zxing-wasm/reader/zxing_reader.wasm');
copyFileSync(zxingWasm, join(out, 'zxing_reader.wasm'));
// Its notices travel with it (zxing-wasm: MIT; the ZXing-C++ it is built from: Apache-2.0, as Latch).
writeFileSync(
  join(out, 'zxing_reader.wasm.LICENSE.txt'),
  'zxing_reader.wasm is zxing-wasm 3.1.4 (https://github.com/Sec-ant/zxing-wasm), built from ZXing-C++\n' +
    '(https://github.com/zxing-cpp/zxing-cpp, Apache License 2.0).\n\n' +
    readFileSync(join(dirname(zxingWasm), '..', '..', 'LICENSE'), 'utf8'),
);
// The service worker's cache name is the shell's hash, so an update installs a new cache and
// the old one is deleted on activate (shell-stamp.mjs).
const version = stampShell(out, readFileSync(join(here, 'sw.js'), 'utf8'));
console.log(`web app built into dist/web (shell ${version})`);

// Builds the Latch browser extension into dist/extension/ with esbuild (like web/build.mjs):
// the page script and the bridge as classic scripts (content scripts are not modules), the
// service worker likewise, and manifest.json copied beside them. Run by `npm run build`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'extension');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { 'page-script': join(here, 'page-script.ts'), bridge: join(here, 'bridge.ts'), 'service-worker': join(here, 'service-worker.ts') },
  outdir: out,
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome111'],
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(join(here, 'manifest.json'), join(out, 'manifest.json'));
console.log('extension built into dist/extension');

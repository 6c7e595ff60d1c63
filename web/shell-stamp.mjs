// Stamps the service worker with the shell's build hash (issue 16 §6). Shared by web/build.mjs and
// the test that a new build replaces the old shell, so both stamp the same way.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The shell files whose bytes (with sw.js's source) make the build hash (sw.js caches exactly these, plus './'). */
export const SHELL_FILES = ['app.js', 'sw-push.js', 'index.html', 'app.css', 'manifest.webmanifest', 'icon.svg'];
/** The placeholder in web/sw.js, quotes included: exactly one, in code, never in a comment. */
const PLACEHOLDER = "'__LATCH_SHELL_VERSION__'";

/** Hash the shell in `dir`, write `dir`/sw.js from `swSource` with the hash stamped in; returns the hash. */
export function stampShell(dir, swSource) {
  const hash = createHash('sha256');
  for (const f of SHELL_FILES) hash.update(createHash('sha256').update(readFileSync(join(dir, f))).digest());
  hash.update(createHash('sha256').update(swSource).digest());
  const version = hash.digest('hex').slice(0, 16);
  const parts = swSource.split(PLACEHOLDER);
  if (parts.length !== 2) throw new Error(`web/sw.js must hold ${PLACEHOLDER} exactly once (found ${parts.length - 1})`);
  writeFileSync(join(dir, 'sw.js'), parts.join(`'${version}'`));
  return version;
}

// Copies the web authenticator's screenshots that docs/WEB.md shows from test-artifacts/ (where
// the browser tests save them) into docs/screenshots/. Run by `npm run screenshots` after those
// tests; the tests themselves never write into docs/.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'test-artifacts');
const to = join(root, 'docs', 'screenshots');
const SIZES = ['390x844', '1280x800'];
const SHOTS = [
  'web-card-ssh', 'web-card-git', 'web-card-join', 'web-account', 'web-scanning',
  'web-screen-computers', 'web-screen-policies', 'web-screen-history', 'web-screen-keys', 'web-screen-pair',
];
mkdirSync(to, { recursive: true });
const missing = [];
for (const shot of SHOTS) {
  for (const size of SIZES) {
    const name = `${shot}-${size}.png`;
    if (existsSync(join(from, name))) copyFileSync(join(from, name), join(to, name));
    else missing.push(name);
  }
}
if (missing.length) {
  console.error(`missing in test-artifacts/ (run the web tests first): ${missing.join(', ')}`);
  process.exit(1);
}
console.log(`copied ${SHOTS.length * SIZES.length} screenshots into docs/screenshots`);

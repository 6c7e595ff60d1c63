/**
 * Issue 16 §5, the state the web authenticator reports, in real Chromium with a real `latch
 * server` and `latch agent` (stock git signs through it; the other tests send the agent the sign
 * request ssh sends):
 * - offline at the click: the relay killed under an open git card, Approve tapped: the page says
 *   "not delivered, retrying" (status line, History), and delivers the moment the server is
 *   back on the same port and data, within the agent's wait: the commit is signed and verifies;
 * - two tabs: the tab without the card says the request is open in another tab;
 * - site data cleared with a card open: the page says its storage is gone, closes the card with a
 *   reason (the computer hears a denial at once), and stops saying "Listening for requests.".
 * Skips where /usr/bin/chromium is absent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { signingRepo } from './helpers/git-repo.js';
import { CHROMIUM_SKIP, tapApprove } from './helpers/web-browser.js';
import { askAgentToSign, openPairedPage, type PairedPage } from './helpers/web-paired-page.js';

const skip = CHROMIUM_SKIP;
const user = os.userInfo().username;

let env: PairedPage | undefined;
/** The server now serving (the first one is killed and restarted in the first test). */
let srv: LatchServer | undefined;
let page: Page;

before(async () => {
  if (skip) return;
  env = await openPairedPage();
  srv = env.srv;
  page = env.page;
});

after(async () => {
  await env?.stop();
  if (srv !== env?.srv) await srv?.stop().catch(() => undefined);
});

/** The one request card of `p` (waits for it). */
async function card(p: Page = page): Promise<Locator> {
  const c = p.getByRole('article');
  await c.waitFor({ timeout: 30_000 });
  assert.equal(await c.count(), 1);
  return c;
}

/** Wait for a History entry of `p` with this text; returns its text. */
async function historyEntry(p: Page, text: string | RegExp): Promise<string> {
  await p.evaluate(() => (location.hash = 'history'));
  const li = p.locator('#history li', { hasText: text }).first();
  await li.waitFor({ timeout: 30_000 });
  return (await li.textContent()) ?? '';
}

test('offline at the click: an approval the relay cannot take says "not delivered, retrying", and is delivered the moment the server is back', { skip }, async () => {
  await page.evaluate(() => (location.hash = 'requests'));
  await page.locator('body[data-inbox="connected"]').waitFor();
  const { repo, git } = await signingRepo({ prefix: 'web-state-git', computer: env!.computer, agentSocket: env!.agentSocket });
  fs.writeFileSync(path.join(repo, 'a.txt'), 'offline at the click\n');
  assert.equal((await git(['add', 'a.txt'])).code, 0);
  const commit = git(['commit', '-S', '-q', '-m', 'Signed across a relay restart']);
  const c = await card();
  assert.match((await c.textContent()) ?? '', /Git commit signature/);
  // The relay goes away with the card open (the computer was acked and waits 60 s more).
  await srv!.kill9();
  await page.locator('body[data-inbox="disconnected"]').waitFor({ timeout: 30_000 });
  await tapApprove(c.getByRole('button', { name: 'Approve' }));

  const status = page.getByRole('status');
  await status.getByText(/approved once, not delivered, retrying/).waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('body').getAttribute('data-delivery'), 'retrying');
  assert.match(await historyEntry(page, 'not delivered'), /Git commit signature.*approved once, not delivered, retrying$/);
  assert.equal(await page.locator('#history li', { hasText: /approved once$/ }).count(), 0, 'History never says "approved once" before the computer has the answer');

  // Back on the same port and data: the page re-sends at once, and the commit is signed.
  srv = await startLatchServer({ dataDir: srv!.dataDir, port: srv!.port });
  const r = await commit;
  assert.equal(r.code, 0, r.stderr);
  const v = await git(['verify-commit', 'HEAD']);
  assert.equal(v.code, 0, v.stderr);
  await status.getByText(/approved once, delivered once the relay came back/).waitFor({ timeout: 30_000 });
  assert.match(await historyEntry(page, 'delivered once the relay came back'), /Git commit signature.*approved once, delivered once the relay came back$/);
  assert.equal(await page.locator('#history li', { hasText: 'retrying' }).count(), 0);
});

test('two tabs: the request is shown in one tab; the other says it is open in another tab, until it is answered there', { skip }, async () => {
  await page.evaluate(() => (location.hash = 'requests'));
  const second = await page.context().newPage();
  try {
    await second.goto(`${srv!.url}/app/#requests`);
    await second.waitForSelector('body[data-ready="true"]');
    for (const p of [page, second]) await p.getByText('Listening for requests.').waitFor({ timeout: 30_000 });
    const { answer } = await askAgentToSign(env!.agentSocket, env!.pageKey, user);
    // Which tab shows it is up to their race for the request (§5.5): find it.
    const shown = (p: Page): Promise<Page> => p.getByRole('article').waitFor({ timeout: 30_000 }).then(() => p);
    const tabs = [shown(page), shown(second)];
    for (const t of tabs) t.catch(() => undefined);
    const withCard = await Promise.race(tabs);
    const other = withCard === page ? second : page;
    const c = await card(withCard);
    const title = (await c.getByRole('heading').textContent()) ?? '';

    const note = other.locator('#elsewhere li', { hasText: 'this request is open in another tab of this app' });
    await note.waitFor({ timeout: 30_000 });
    assert.match((await note.textContent()) ?? '', /SSH login as .*, from laptop .*: this request is open in another tab of this app\. Answer it there\./);
    assert.ok(title.startsWith(((await note.textContent()) ?? '').split(',')[0]!.trim()), `the note names the card: ${title}`);
    assert.equal(await other.getByRole('article').count(), 0, 'one card, in one tab');
    assert.equal(await withCard.locator('#elsewhere li').count(), 0, 'the tab with the card has no note');

    await tapApprove(c.getByRole('button', { name: 'Approve' }));
    assert.ok((await answer).length > 0);
    await note.waitFor({ state: 'detached', timeout: 30_000 });
    assert.equal(await other.locator('#elsewhere-live').isVisible(), false);
  } finally {
    await second.close();
  }
});

test('site data cleared with a card open: the page says its storage is gone, closes the card with a reason, and stops "Listening for requests."', { skip }, async () => {
  await page.evaluate(() => (location.hash = 'requests'));
  await page.getByText('Listening for requests.').waitFor({ timeout: 30_000 });
  const { answer } = await askAgentToSign(env!.agentSocket, env!.pageKey, user);
  const c = await card();
  assert.match((await c.textContent()) ?? '', /SSH login as/);
  // As "Clear site data" does: the origin's IndexedDB (keys, pairings, history) goes under the open page.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Storage.clearDataForOrigin', { origin: new URL(srv!.url).origin, storageTypes: 'indexeddb' });

  const alert = page.getByRole('alert').filter({ hasText: 'data for the app was cleared' });
  await alert.waitFor({ timeout: 30_000 });
  assert.match((await alert.textContent()) ?? '', /keys, pairings and history are gone.*open request card was closed unanswered.*pair each computer again/);
  assert.equal(await page.getByRole('article').count(), 0, 'the card is closed');
  await page.getByRole('status').getByText(/Not listening: this browser's storage for the app is gone/).waitFor();
  assert.equal(await page.getByText('Listening for requests.').count(), 0);
  assert.equal(await page.locator('body').getAttribute('data-storage'), 'lost');
  // Nothing was signed, and the computer is told so at once (not left to time out).
  await assert.rejects(answer);
  assert.match(env!.agent.stderr(), /denied on the authenticator \(this browser's data for the app was cleared\)/);
});

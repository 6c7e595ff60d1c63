/**
 * Issue 16 §3, a tap lands on the wrong card: three open cards A, B, C; the user denies A and,
 * 1.85 s later, taps where B's Approve is. That tap must never approve C (before the fix, A's
 * kept space collapsed after 1 s, C moved up under B's old place, and the 700 ms guard had ended
 * by 1.85 s). Real Chromium, a real `latch server` and `latch agent`; the page's clock is
 * Playwright's, so "1.85 s later" is exact on a busy machine. Skips where Chromium is absent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { CHROMIUM_SKIP, artifactPath } from './helpers/web-browser.js';
import { askAgentToSign, openPairedPage, type PairedPage } from './helpers/web-paired-page.js';

const skip = CHROMIUM_SKIP;
let env: PairedPage;

before(async () => {
  if (skip) return;
  // The clock is installed before the app loads and flows normally until a test pauses it.
  env = await openPairedPage({ beforeGoto: (page) => page.clock.install() });
});

after(async () => {
  await env?.stop();
});

const USERS = ['alice', 'bob', 'carol'] as const;

/** Stop the page's clock a moment ahead of its now (further ahead if the machine is slow to answer). */
async function pauseClock(page: Page): Promise<void> {
  for (let ahead = 200; ; ahead *= 2) {
    try {
      await page.clock.pauseAt((await page.evaluate(() => Date.now())) + ahead);
      return;
    } catch (e) {
      if (!/to the past/.test(String(e)) || ahead > 60_000) throw e;
    }
  }
}

for (const [width, height] of [
  [1024, 1366],
  [1920, 1080],
  [390, 1500],
] as const) {
  test(`at ${width}x${height}: a tap 1.85 s after denying card A, where B's Approve is, never approves card C`, { skip }, async () => {
    const { page } = env;
    await page.setViewportSize({ width, height });
    await page.evaluate(() => (location.hash = 'requests'));
    const card = (user: string) => page.getByRole('article', { name: new RegExp(`SSH login as ${user}@`) });
    // A, B, C in that order, one below the other.
    const asked: Record<string, { answer: Promise<Uint8Array> }> = {};
    for (const user of USERS) {
      asked[user] = await askAgentToSign(env.agentSocket, env.pageKey, user);
      await card(user).waitFor();
    }
    await page.waitForFunction(() => Array.from(document.querySelectorAll('article button.primary')).every((b) => !(b as HTMLButtonElement).disabled));
    const bBox = (await card('bob').getByRole('button', { name: 'Approve' }).boundingBox())!;
    const cBox = (await card('carol').getByRole('button', { name: 'Approve' }).boundingBox())!;
    assert.ok(Math.abs(bBox.y - cBox.y) > bBox.height, 'B and C are stacked, so C moving up would put it under the tap');

    // Time stands still except as the test moves it.
    await pauseClock(page);
    await card('alice').getByRole('button', { name: 'Deny' }).click();
    await page.clock.runFor(1850);
    await page.mouse.click(bBox.x + bBox.width / 2, bBox.y + bBox.height / 2);
    await page.screenshot({ path: artifactPath(`web-tap-guard-${width}x${height}.png`) });
    const carolOpen = await card('carol').count();
    await page.clock.resume();

    assert.equal(carolOpen, 1, 'card C is still open: the tap did not approve it');
    await assert.rejects(asked.alice!.answer, /refused/);
    // The tap went where the user aimed: B, which never moved.
    await asked.bob!.answer;
    await card('carol').getByRole('button', { name: 'Deny' }).click();
    await assert.rejects(asked.carol!.answer, /refused/, 'C was never approved');
    // Once no card is open, the answered cards' spaces go.
    await page.locator('#cards > *').first().waitFor({ state: 'detached' });
  });
}

test('an Approve that moves under the pointer (a line above the cards grows) is re-armed before a tap counts', { skip }, async () => {
  const { page } = env;
  await page.setViewportSize({ width: 390, height: 844 });
  const asked = await askAgentToSign(env.agentSocket, env.pageKey, 'dave');
  const c = page.getByRole('article', { name: /SSH login as dave@/ });
  await c.waitFor();
  await page.waitForFunction(() => !(document.querySelector('article button.primary') as HTMLButtonElement).disabled);
  await pauseClock(page);
  // Something above the cards changes height (here the alert line: the page's own DOM, as a
  // relay error would set it), moving Approve down; the tap lands where Approve now is.
  await page.evaluate(() => {
    const e = document.getElementById('error')!;
    e.textContent = 'Something happened above the cards.';
    e.hidden = false;
  });
  const box = (await c.getByRole('button', { name: 'Approve' }).boundingBox())!;
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  const stillOpen = await c.count();
  await page.clock.resume();
  assert.equal(stillOpen, 1, 'a tap on a button that just moved does not count');
  await page.evaluate(() => (document.getElementById('error')!.hidden = true));
  await c.getByRole('button', { name: 'Deny' }).click();
  await assert.rejects(asked.answer, /refused/);
});

// Here because this page's clock is Playwright's: the page is moved 5 minutes ahead, so a request
// just sent looks as old as one queued on the relay while its computer gave up (within the 15-min
// freshness window, so only the unseen-age rule stops it).
test('§2 a sign request whose computer has given up (older than 2 min when its turn comes) is dropped unseen, not shown as a fresh card', { skip }, async () => {
  const { page } = env;
  await page.clock.setSystemTime(Date.now() + 5 * 60_000);
  try {
    const dropped = page.waitForEvent('console', { predicate: (m) => /dropped a ssh_sign request from "laptop" unseen: sent 3\d\d s ago/.test(m.text()) });
    const asked = await askAgentToSign(env.agentSocket, env.pageKey, 'late');
    await dropped;
    assert.equal(await page.getByRole('article').count(), 0, 'no card for it');
    await assert.rejects(asked.answer);
  } finally {
    await page.clock.setSystemTime(Date.now());
  }
});

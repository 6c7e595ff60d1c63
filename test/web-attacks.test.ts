/**
 * Issue 16, the web authenticator under attack: what a script with the page's storage, a
 * flooding computer, or misleading peer text must not achieve. Real Chromium with the page from
 * a real `latch server`, paired with real `latch pair` / `latch agent` processes. Skips where
 * Chromium is absent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { signingRepo } from './helpers/git-repo.js';
import { CHROMIUM_SKIP, tapApprove } from './helpers/web-browser.js';
import { askAgentToSign, openPairedPage, pairPage, startAgent, type PairedPage } from './helpers/web-paired-page.js';
import { latchRun } from './helpers/latch-process.js';

const skip = CHROMIUM_SKIP;
let env: PairedPage;

before(async () => {
  if (skip) return;
  env = await openPairedPage();
});

after(async () => {
  await env?.stop();
});

/** Write records straight into the page's IndexedDB, as any script in its origin could. */
function plant(page: Page, records: Record<string, unknown>): Promise<void> {
  return page.evaluate(
    (recs) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('latch-web', 1);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction('kv', 'readwrite');
          for (const [k, v] of Object.entries(recs)) tx.objectStore('kv').put(v, k);
          tx.oncomplete = () => (open.result.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
      }),
    records,
  );
}

async function pairingIdOf(page: Page, name: string): Promise<string> {
  return page.evaluate(
    (n) =>
      new Promise<string>((resolve, reject) => {
        const open = indexedDB.open('latch-web', 1);
        open.onsuccess = () => {
          const get = open.result.transaction('kv').objectStore('kv').get('pairings');
          get.onsuccess = () => {
            open.result.close();
            const p = (get.result as { id: string; computerName: string }[]).find((x) => x.computerName === n);
            if (p) resolve(p.id);
            else reject(new Error(`no pairing ${n}`));
          };
        };
      }),
    name,
  );
}

test('§1 a stored policy is re-checked on every use: an 87,600-hour "all SSH" policy written into IndexedDB is not honoured (a 1-hour one is)', { skip }, async () => {
  const { page } = env;
  const id = await pairingIdOf(page, 'laptop');
  const now = Math.floor(Date.now() / 1000);
  const policy = (hours: number) => ({ id: `planted${hours}`, pairingId: id, computerName: 'laptop', scope: { kind: 'ssh' }, createdAt: now, expiresAt: now + hours * 3600 });
  // The opt-in makes "all SSH" apply to these unverified-host requests, so only the cap decides.
  await plant(page, { policies: [policy(87_600)], allowUnverifiedFor: [id] });
  let asked = await askAgentToSign(env.agentSocket, env.pageKey, 'root');
  const c = page.getByRole('article', { name: /SSH login as root@/ });
  await c.waitFor();
  await c.getByRole('button', { name: 'Deny' }).click();
  await assert.rejects(asked.answer, /refused/);
  await page.evaluate(() => (location.hash = 'policies'));
  await page.getByRole('alert').filter({ hasText: /1 stored approval ignored: longer than 168 h.*all SSH logins for laptop/ }).waitFor();

  // The same record with a 1-hour lifetime is one the app could have granted: honoured, no card.
  await plant(page, { policies: [policy(1)] });
  asked = await askAgentToSign(env.agentSocket, env.pageKey, 'root');
  assert.ok((await asked.answer).length > 0, 'signed by the 1-hour policy');
  await plant(page, { policies: [], allowUnverifiedFor: [] });
});

test('§2 History keeps the pairing record and a live timed approval when 205 refused requests roll through its 200-entry window', { skip }, async () => {
  const { page } = env;
  const id = await pairingIdOf(page, 'laptop');
  await plant(page, { allowUnverifiedFor: [id] }); // so this unverified request may get "all SSH"
  const asked = await askAgentToSign(env.agentSocket, env.pageKey, 'keeper');
  const c = page.getByRole('article', { name: /SSH login as keeper@/ });
  await c.waitFor();
  await c.getByRole('combobox').selectOption({ label: 'all SSH logins, for…' });
  await c.getByRole('spinbutton', { name: 'Hours' }).fill('1');
  await page.waitForFunction(() => !(document.querySelector('article button.primary') as HTMLButtonElement).disabled);
  await tapApprove(c.getByRole('button', { name: 'Approve' }));
  await asked.answer;
  // 205 requests the core refuses at once (a user name with a space), each a History entry.
  const flood = await Promise.all(Array.from({ length: 205 }, (_, i) => askAgentToSign(env.agentSocket, env.pageKey, `bad user ${i}`)));
  for (const f of flood) await assert.rejects(f.answer, /refused/);
  await page.evaluate(() => (location.hash = 'history'));
  await page.locator('#history li', { hasText: 'SSH login as bad user 204' }).waitFor();
  const entries = await page.locator('#history li').allTextContents();
  assert.equal(entries.filter((t) => /SSH login as bad user/.test(t)).length, 200, 'the rolling window holds 200');
  assert.ok(entries.some((t) => /Paired with laptop/.test(t)), 'the pairing record is kept');
  assert.ok(entries.some((t) => /approved for 1 h \(all SSH logins\)/.test(t)), 'the live approval is kept');
  await plant(page, { policies: [], allowUnverifiedFor: [] });
});

test('§4 user names no SSH server accepts are refused with no card (bidi controls, 400 no-break spaces); History shows them cleaned as a card would', { skip }, async () => {
  const { page } = env;
  for (const [user, shown] of [
    ['root\u202emoc.elpmaxe.dorp@\u202c', 'SSH login as root?moc.elpmaxe.dorp@?'],
    [`deploy@prod.example.com${'\u00a0'.repeat(400)}x`, 'SSH login as deploy@prod.example.com [400 spaces] x'],
  ] as const) {
    const asked = await askAgentToSign(env.agentSocket, env.pageKey, user);
    await assert.rejects(asked.answer, /refused/);
    await page.evaluate(() => (location.hash = 'history'));
    const li = page.locator('#history li', { hasText: shown }).first();
    await li.waitFor();
    const text = (await li.textContent()) ?? '';
    assert.match(text, /refused: not a user name an SSH server accepts/);
    assert.doesNotMatch(text, /[\u202a-\u202e\u2066-\u2069\u00a0]/u, 'no bidi control or no-break space reaches History');
  }
  assert.equal(await page.getByRole('article').count(), 0, 'no card was shown for either');
});

test('§4 an ssh card shows User and Host as separate labelled fields; a commit message line that wraps keeps its quote bar on every visual line', { skip }, async () => {
  const { page } = env;
  await page.setViewportSize({ width: 390, height: 844 });
  const asked = await askAgentToSign(env.agentSocket, env.pageKey, 'deploy');
  let c = page.getByRole('article', { name: /SSH login as deploy@/ });
  await c.waitFor();
  const facts = await c.locator('dl.facts').evaluate((dl) => Array.from(dl.children).map((e) => `${e.tagName}:${e.textContent}`));
  assert.deepEqual(facts, ['DT:User', 'DD:deploy', 'DT:Host', 'DD:unknown (no host name sent)']);
  await c.getByRole('button', { name: 'Deny' }).click();
  await assert.rejects(asked.answer, /refused/);

  const { repo, git } = await signingRepo({ prefix: 'web-wrap', computer: env.computer, agentSocket: env.agentSocket });
  fs.writeFileSync(path.join(repo, 'w.txt'), 'wrap\n');
  assert.equal((await git(['add', 'w.txt'])).code, 0);
  const fake = `${'x'.repeat(120)} key ssh (SHA256:fake), from computer "laptop"`;
  const commit = git(['commit', '-S', '-q', '-m', `Subject\n\n${fake}`]);
  c = page.getByRole('article', { name: /Git commit signature/ });
  await c.waitFor();
  const quoted = c.locator('.details > div', { hasText: 'SHA256:fake' });
  const look = await quoted.evaluate((el) => ({ lines: Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight || '16')), bar: parseFloat(getComputedStyle(el).borderLeftWidth) }));
  assert.ok(look.lines >= 2, `the long line wraps at 390 px (${look.lines} lines)`);
  assert.ok(look.bar >= 2, 'the quoted line has a bar down its whole height, wrapped lines included');
  await c.getByRole('button', { name: 'Deny' }).click();
  assert.notEqual((await commit).code, 0);
});

test('§4 two computers named "laptop": the card shows the pairing fingerprint and marks the other one with a name like it', { skip }, async () => {
  const { page } = env;
  await pairPage(page, env.srv.url, 'laptop');
  const keys = await page.evaluate(
    () =>
      new Promise<string[]>((resolve) => {
        const open = indexedDB.open('latch-web', 1);
        open.onsuccess = () => {
          const get = open.result.transaction('kv').objectStore('kv').get('pairings');
          get.onsuccess = () => (open.result.close(), resolve((get.result as { computerPublicKey: string }[]).map((p) => p.computerPublicKey)));
        };
      }),
  );
  // Independently of the page's code: SHA-256 of the computer's pairing key, first 4 bytes.
  const fp = (k: string) => createHash('sha256').update(Buffer.from(k, 'base64url')).digest('hex').slice(0, 8).replace(/^(.{4})/, '$1 ');
  const [first, second] = [fp(keys[0]!), fp(keys[1]!)];
  assert.notEqual(first, second);
  const asked = await askAgentToSign(env.agentSocket, env.pageKey, 'twin');
  const c = page.getByRole('article', { name: /SSH login as twin@/ });
  await c.waitFor();
  const text = (await c.textContent()) ?? '';
  assert.match(text, new RegExp(`from laptop \\(pairing ${first}\\)`));
  assert.match(text, new RegExp(`Careful1 other paired computer named like this: "laptop" \\(pairing ${second}\\)`));
  await c.getByRole('button', { name: 'Deny' }).click();
  await assert.rejects(asked.answer, /refused/);
  await page.evaluate(() => (location.hash = 'computers'));
  assert.equal(await page.getByText('Another paired computer has a name like "laptop"').count(), 2);
  const unpair = page.getByRole('button', { name: 'Unpair laptop' }).last();
  await unpair.click();
  await unpair.click();
  await page.getByRole('button', { name: 'Unpair laptop' }).nth(1).waitFor({ state: 'detached' });
});

test('§2 a flood of 200 sign requests from one computer never stalls another: its `latch status` and its sign request get through at once (last: it unpairs the flooding computer)', { skip }, async () => {
  const { page } = env;
  const desk = await pairPage(page, env.srv.url, 'desk');
  const deskAgent = await startAgent(desk);
  try {
    await page.evaluate(() => (location.hash = 'requests'));
    const flood = await Promise.all(Array.from({ length: 200 }, (_, i) => askAgentToSign(env.agentSocket, env.pageKey, `flood${i}`)));
    // Well past the old shared limit of 16 open at once: laptop's own lanes are full.
    await page.getByRole('article', { name: /SSH login as flood/ }).nth(7).waitFor();
    const st = await latchRun(['status', '--json'], { home: desk });
    assert.equal(JSON.parse(st.stdout).device.reachable, true, `desk's latch status during the flood: ${st.stdout}`);
    const deskKey = (await page.getByLabel('SSH public key').textContent())!.trim();
    const asked = await askAgentToSign(deskAgent.agentSocket, deskKey, 'deskuser');
    const c = page.getByRole('article', { name: /SSH login as deskuser@/ });
    await c.waitFor();
    assert.match((await c.textContent()) ?? '', /from desk/);
    await c.getByRole('button', { name: 'Deny' }).click();
    await assert.rejects(asked.answer, /refused/);
    // Unpairing the flooding computer withdraws its cards and drops what it still had waiting.
    await page.evaluate(() => (location.hash = 'computers'));
    const unpair = page.getByRole('button', { name: 'Unpair laptop' });
    await unpair.click();
    await unpair.click();
    await page.getByRole('article', { name: /SSH login as flood/ }).first().waitFor({ state: 'detached' });
    for (const f of flood) await assert.rejects(f.answer);
  } finally {
    await deskAgent.agent.stop();
  }
});

/**
 * Issue 14, Web Push wake-ups: Debian's Firefox ESR (driven over WebDriver BiDi) runs the web
 * authenticator from a real `latch server`, paired with a computer running a real `latch agent`;
 * the push service is test/helpers/push-service-standin.ts, a stand-in for Mozilla's autopush
 * (the only fake: the real push services are unreachable here). Chromium cannot subscribe here
 * (it needs Google's FCM). Skips locally without firefox-esr; fails under CI=true.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import webpush from 'web-push';
import { latch, startLatchServer, tempDir, type LatchServer } from './helpers/latch-process.js';
import { startAgent } from './helpers/web-paired-page.js';
import type { Watched } from './helpers/latch-ssh-env.js';
import { startSshd, sshArgs, type TestSshd } from './helpers/sshd.js';
import { run } from './helpers/agent-test-env.js';
import { LATCH_CLI } from './helpers/latch-process.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { signRelayProof } from '../src/relay/relay-proof.js';
import { firefoxMissing, pushPrefs, startFirefox, writeUserJs, type Firefox } from './helpers/firefox-bidi.js';
import { startPushServiceStandIn, type PushServiceStandIn } from './helpers/push-service-standin.js';

const skip = firefoxMissing();
const user = os.userInfo().username;

let standin: PushServiceStandIn;
let srv: LatchServer;
let ff: Firefox | undefined;
let profile: string;
let computer: string;
let agent: Watched;
let agentSocket: string;
let pageKey: string;
let sshd: TestSshd;

/** Polls `fn` in `tab` until it returns a truthy value (each call is an event, not a timer in the test). */
async function until<T>(f: Firefox, tab: string, fn: string, what: string, tries = 600): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    const v = await f.evaluate<T>(tab, fn).catch((e: unknown) => void (last = e));
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last error: ${String(last)}; push acks ${JSON.stringify(standin.acks)})\nFirefox stderr: ${f.stderr().slice(-3000)}`);
}

async function openApp(f: Firefox, hash = ''): Promise<string> {
  const tab = (await f.tabs())[0]!.context;
  await f.navigate(tab, `${srv.url}/app/${hash}`);
  await until(f, tab, `async () => document.body.dataset.ready === 'true'`, 'the app to be ready');
  return tab;
}

before(async () => {
  if (skip) return;
  standin = await startPushServiceStandIn();
  srv = await startLatchServer({ args: ['--push-service', standin.endpointHost], env: { ...process.env, NODE_EXTRA_CA_CERTS: standin.caFile } });
  profile = tempDir('firefox');
  writeUserJs(profile, pushPrefs(standin.wsUrl));
  ff = await startFirefox(profile, {}, ['--remote-allow-system-access']);
  const tab = await openApp(ff);
  // Pair by pasted link, as on a phone without a camera.
  computer = tempDir('web-push-laptop');
  const pair = latch(['pair', '--server', srv.url, '--uri-only', '--timeout', '60', '--name', 'laptop'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  await ff.evaluate(tab, `async (link) => {
    location.hash = 'pair';
    document.getElementById('device-name').value = 'Ada Firefox';
    document.getElementById('pairing-link').value = link;
    document.getElementById('pair').click();
  }`, link!);
  await until(ff, tab, `async () => document.querySelector('[role=status]')?.textContent.includes('Paired with laptop')`, 'pairing');
  assert.equal((await pair.exited).code, 0, pair.stderr());
  pageKey = await ff.evaluate<string>(tab, `async () => document.querySelector('[aria-label="SSH public key"]').textContent.trim()`);
  ({ agent, agentSocket } = await startAgent(computer, 60));
  sshd = await startSshd({ authorizedKeys: [pageKey] });
});

after(async () => {
  await ff?.quit().catch(() => undefined);
  await agent?.stop();
  await sshd?.stop();
  await srv?.stop().catch(() => undefined);
  await standin?.close();
});

function ssh(): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = sshArgs(sshd.port, agentSocket);
  args.push('-o', `KnownHostsCommand=${process.execPath} ${LATCH_CLI} agent hint --agent ${agentSocket} %r %h %p %K`);
  return run('ssh', [...args, `${user}@127.0.0.1`, 'echo logged-in'], { env: { ...process.env, LATCH_HOME: computer } });
}

test('Turn on notifications: the page subscribes with the server\'s VAPID key and registers its queue with the relay', { skip }, async () => {
  const tab = (await ff!.tabs())[0]!.context;
  await ff!.evaluate(tab, `async () => document.querySelector('#pair-push .push-enable').click()`);
  await until(ff!, tab, `async () => document.getElementById('push-status').dataset.push === 'on'`, 'push on');
  assert.match(await ff!.evaluate<string>(tab, `async () => document.getElementById('push-status').textContent`), /^Push notifications: on$/);
  assert.equal(standin.channels().length, 1, 'one push channel registered with the push service');
});

test('every tab closed, ssh through latch agent: a new service worker instance wakes and shows the request\'s title; tapping it opens the card, which approves the login', { skip }, async () => {
  const f = ff!;
  const appTab = (await f.tabs())[0]!.context;
  const before = await f.evaluate<string>(appTab, `async () => {
    const reg = await navigator.serviceWorker.ready;
    return new Promise((resolve) => {
      navigator.serviceWorker.addEventListener('message', (e) => e.data?.swInstance && resolve(e.data.swInstance));
      reg.active.postMessage('latch-sw-instance');
    });
  }`);
  // Every tab of the app closed: a blank one keeps the browser up.
  const blank = await f.newTab();
  await f.closeTab(appTab);
  const launches = await workerStopped(f);
  // An agent starting now refreshes its key list in the background. That must not wake the
  // closed app (`Latch-Push: off`, PROTOCOL.md §3.9): it would show a notification with nothing
  // to approve. The refresh goes unanswered, and the push service got nothing for it.
  const postsBefore = standin.posts.length;
  const second = await startAgent(computer, 60);
  await second.agent.waitFor(/could not refresh the key list/);
  assert.equal(standin.posts.length, postsBefore, 'no push for a key-list refresh');
  await second.agent.stop();
  const sshDone = ssh();
  await agent.waitFor(/sent to your phone \(push\)/);
  await standin.waitForPost((p) => p.status === 201);
  await f.navigate(blank, `${srv.url}/app/icon.svg`);
  const shown = await until<{ title: string; body: string; data: { instance: string } }[]>(f, blank, `async () => {
    const reg = await navigator.serviceWorker.getRegistration('/app/');
    const list = reg ? (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, data: n.data })) : [];
    return list.some((n) => n.title.startsWith('SSH login')) ? list : undefined;
  }`, 'the notification', 100);
  assert.equal(shown.length, 1);
  assert.match(shown[0]!.title, new RegExp(`^SSH login as ${user}@\\[127\\.0\\.0\\.1\\]:${sshd.port}$`));
  assert.equal(shown[0]!.body, 'from laptop');
  assert.notEqual(shown[0]!.data.instance, before, 'the notification came from a new worker instance, woken by the push');
  assert.ok((await workerInfo(f)).launchCount > launches, 'the stopped worker was launched again by the push');
  // A tap on the notification: Firefox's own alert window (alerts.useSystemBackend false) is
  // clicked in chrome scope, so the worker's notificationclick opens /app/#requests.
  const openedTab = await openFromNotification(f);
  await until(f, openedTab, `async () => { const b = [...document.querySelectorAll('#cards article button')].find((b) => b.textContent === 'Approve'); if (!b || b.disabled) return false; b.click(); return true; }`, 'Approve to arm and be clicked');
  const r = await sshDone;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /logged-in/);
});

/**
 * Taps the notification: Firefox's own alert window (alerts.useSystemBackend false) is clicked in
 * chrome scope (`--remote-allow-system-access`), so the worker's notificationclick opens
 * /app/#requests; returns that tab.
 */
async function openFromNotification(f: Firefox): Promise<string> {
  await clickNotification(f);
  for (let i = 0; i < 200; i++) {
    const t = (await f.tabs()).find((x) => x.url.startsWith(`${srv.url}/app/`) && x.url.endsWith('#requests'));
    if (t) return t.context;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the notification's click opened no app tab: ${JSON.stringify(await f.tabs())}`);
}

/**
 * The app's service worker as Firefox's service worker manager sees it (chrome scope, as
 * about:debugging reads it): whether it is running (its idle deadline lies ahead) and how many
 * times it has been launched.
 */
async function workerInfo(f: Firefox): Promise<{ running: boolean; launchCount: number }> {
  const tree = await f.command<{ contexts: { context: string; url: string }[] }>('browsingContext.getTree', { 'moz:scope': 'chrome', maxDepth: 0 });
  const browser = tree.contexts.find((c) => c.url === 'chrome://browser/content/browser.xhtml')!;
  return f.evaluate(browser.context, `async (scope) => {
    const swm = Cc['@mozilla.org/serviceworkers/manager;1'].getService(Ci.nsIServiceWorkerManager);
    const regs = swm.getAllRegistrations();
    for (let i = 0; i < regs.length; i++) {
      const reg = regs.queryElementAt(i, Ci.nsIServiceWorkerRegistrationInfo);
      const w = reg.activeWorker;
      if (reg.scope === scope && w) return { running: w.lifetimeDeadline > ChromeUtils.now(), launchCount: w.launchCount };
    }
    throw new Error('no service worker for ' + scope);
  }`, `${srv.url}/app/`);
}

/** Resolves once the app's service worker has stopped by itself (the short idle timeout); returns its launch count. */
async function workerStopped(f: Firefox): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const w = await workerInfo(f);
    if (!w.running) return w.launchCount;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the service worker did not stop by itself');
}

async function clickNotification(f: Firefox): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const tree = await f.command<{ contexts: { context: string; url: string }[] }>('browsingContext.getTree', { 'moz:scope': 'chrome', maxDepth: 0 });
    const alert = tree.contexts.find((c) => c.url.includes('alert.xhtml'));
    if (alert) {
      await f.evaluate(alert.context, `async () => { document.getElementById('alertBox').click(); return true; }`);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no notification alert window');
}

/** The pairing's queue id (the page's pairing id, PROTOCOL.md §3.1), read in an app tab. */
async function pairingQueue(f: Firefox): Promise<string> {
  const tab = (await f.tabs())[0]!.context;
  await f.navigate(tab, `${srv.url}/app/#computers`);
  await until(f, tab, `async () => document.body.dataset.ready === 'true'`, 'the app');
  const q = await f.evaluate<string>(tab, `async () => new Promise((resolve, reject) => {
    const open = indexedDB.open('latch-web');
    open.onsuccess = () => {
      const get = open.result.transaction('kv').objectStore('kv').get('pairings');
      get.onsuccess = () => resolve(get.result[0].id);
      get.onerror = () => reject(get.error);
    };
  })`);
  await f.navigate(tab, 'about:blank'); // the app closed again: nobody listens on the queue
  return q;
}

/** An opaque message to `queue`, as any sender may send (§3.3); returns the send answer. */
async function sendTo(queue: string): Promise<{ id: string; reader?: string }> {
  const res = await fetch(`${srv.url}/v1/queues/${queue}/messages`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([1, 2, 3]) });
  assert.equal(res.status, 201);
  return (await res.json()) as { id: string; reader?: string };
}

test('with the browser closed, the push waits at the push service and is delivered when Firefox starts', { skip }, async () => {
  await ff!.quit();
  ff = undefined;
  const sshDone = ssh();
  await agent.waitFor(/sent to your phone \(push\)[\s\S]*sent to your phone \(push\)/);
  const post = await standin.waitForPost((p) => p.status === 201 && p.urgency === 'high' && p.ttl !== undefined && p.ttl > 0 && p.ttl <= 30 && p.topic !== undefined);
  assert.ok(post.topic!.length <= 32);
  ff = await startFirefox(profile, {}, ['--remote-allow-system-access']);
  const tab = (await ff.tabs())[0]!.context;
  await ff.navigate(tab, `${srv.url}/app/icon.svg`);
  const shown = await until<{ title: string }[]>(ff, tab, `async () => {
    const reg = await navigator.serviceWorker.getRegistration('/app/');
    const list = reg ? (await reg.getNotifications()).map((n) => ({ title: n.title })) : [];
    return list.some((n) => n.title.startsWith('SSH login')) ? list : undefined;
  }`, 'the queued notification');
  assert.match(shown[0]!.title, /^SSH login as /);
  const opened = await openFromNotification(ff);
  await until(ff, opened, `async () => { const b = [...document.querySelectorAll('#cards article button')].find((b) => b.textContent === 'Approve'); if (!b || b.disabled) return false; b.click(); return true; }`, 'Approve');
  const r = await sshDone;
  assert.equal(r.code, 0, `${r.stderr}\nagent: ${agent.stderr().slice(-2000)}`);
  await ff.closeTab(opened); // the app closed again for the tests that follow
});

test('429 holds pushes back until Retry-After; 413 is sent again as a content-free wake, which still shows a notification', { skip }, async () => {
  const queue = await pairingQueue(ff!);
  const tab = (await ff!.tabs())[0]!.context;
  await ff!.navigate(tab, `${srv.url}/app/icon.svg`);
  await ff!.evaluate(tab, `async () => { const reg = await navigator.serviceWorker.getRegistration('/app/'); for (const n of await reg.getNotifications()) n.close(); return true; }`);
  const n = standin.posts.length;
  standin.failNext(429, { 'retry-after': '1' });
  await sendTo(queue);
  await standin.waitForPost((p) => p.status === 429 && standin.posts.indexOf(p) >= n);
  await srv.proc.waitFor(new RegExp(`push for queue ${queue} to \\S+ rate limited \\(429\\): next one in 1 s`));
  // Sent again once Retry-After has passed: one push for the newest message.
  await standin.waitForPost((p) => p.status === 201 && standin.posts.indexOf(p) > n);
  const m = standin.posts.length;
  standin.failNext(413);
  await sendTo(queue);
  await standin.waitForPost((p) => p.status === 413 && standin.posts.indexOf(p) >= m);
  await srv.proc.waitFor(new RegExp(`push for queue ${queue} to \\S+ too large \\(413\\): sending a content-free wake`));
  await standin.waitForPost((p) => p.status === 201 && standin.posts.indexOf(p) > m);
  const shown = await until<{ title: string; body: string }[]>(ff!, tab, `async () => {
    const reg = await navigator.serviceWorker.getRegistration('/app/');
    const list = (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body }));
    return list.some((x) => x.title === 'A request from laptop is waiting') ? list : undefined;
  }`, 'the content-free wake\'s notification');
  assert.ok(shown.length >= 1);
  await ff!.navigate(tab, 'about:blank');
});

test('a registration with a bad reader proof is refused, with the same answer as a bad read', { skip }, async () => {
  const queue = await pairingQueue(ff!);
  const sodium = await sodiumReady();
  const stranger = sodium.crypto_sign_keypair();
  const body = new TextEncoder().encode(JSON.stringify({ endpoint: 'https://attacker.example/push/1', keys: { p256dh: Buffer.alloc(65, 4).toString('base64url'), auth: Buffer.alloc(16, 1).toString('base64url') } }));
  const path = `/v1/queues/${queue}/push`;
  const auth = signRelayProof(sodium, { publicKey: stranger.publicKey, secretKey: stranger.privateKey }, 'POST', path, Math.floor(Date.now() / 1000), body);
  const reg = await fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'latch-auth': auth }, body });
  const read = await fetch(`${srv.url}/v1/queues/${queue}/messages`, { headers: { 'latch-auth': auth } });
  assert.equal(reg.status, 401);
  assert.equal(read.status, 401);
  assert.deepEqual(await reg.json(), await read.json());
  // The queue's pushes still go to the browser's endpoint.
  assert.equal((await sendTo(queue)).reader, 'push');
});

test('a push signed with another VAPID key is refused by the push service, and the relay logs it', { skip }, async () => {
  const queue = await pairingQueue(ff!);
  const vapidFile = path.join(srv.dataDir, 'vapid.json');
  const original = fs.readFileSync(vapidFile, 'utf8');
  // The server's key pair replaced (a lost data dir restored without vapid.json, say): the
  // browser's subscription is still bound to the old public key.
  const other = webpush.generateVAPIDKeys();
  await srv.stop();
  fs.writeFileSync(vapidFile, JSON.stringify({ v: 1, public_key: other.publicKey, private_key: other.privateKey }), { mode: 0o600 });
  srv = await startLatchServer({ dataDir: srv.dataDir, port: srv.port, args: ['--push-service', standin.endpointHost], env: { ...process.env, NODE_EXTRA_CA_CERTS: standin.caFile } });
  const refusedBefore = standin.posts.filter((p) => p.status === 403).length;
  assert.equal((await sendTo(queue)).reader, 'push');
  const refused = await standin.waitForPost((p) => p.status === 403 && standin.posts.filter((q) => q.status === 403).length > refusedBefore);
  assert.match(refused.reason!, /vapid key does not match/);
  await srv.proc.waitFor(new RegExp(`push for queue ${queue} to 127\\.0\\.0\\.1:[0-9]+ refused \\(403\\)`));
  // The right key again, for the tests that follow.
  await srv.stop();
  fs.writeFileSync(vapidFile, original, { mode: 0o600 });
  srv = await startLatchServer({ dataDir: srv.dataDir, port: srv.port, args: ['--push-service', standin.endpointHost], env: { ...process.env, NODE_EXTRA_CA_CERTS: standin.caFile } });
});

test('a 410 from the push service removes the subscription; the agent then says it waits for the app', { skip }, async () => {
  const queue = await pairingQueue(ff!);
  const [channel] = standin.channels();
  standin.markGone(`x/${channel!.channelID}`);
  assert.equal((await sendTo(queue)).reader, 'push');
  await standin.waitForPost((p) => p.status === 410);
  await srv.proc.waitFor(new RegExp(`push subscription of queue ${queue} at 127\\.0\\.0\\.1:[0-9]+ is gone \\(410\\): dropped`));
  assert.equal((await sendTo(queue)).reader, 'none', 'no subscription left: the relay says nobody will be woken');
  // The agent's own words for that, while the request waits; the app then opens and denies it.
  const sshDone = ssh();
  await agent.waitFor(/waiting for the app to open/);
  const tab = (await ff!.tabs())[0]!.context;
  await ff!.navigate(tab, `${srv.url}/app/#requests`);
  await until(ff!, tab, `async () => { const b = [...document.querySelectorAll('#cards article button')].find((b) => b.textContent === 'Deny'); if (!b) return false; b.click(); return true; }`, 'Deny');
  const r = await sshDone;
  assert.notEqual(r.code, 0);
});

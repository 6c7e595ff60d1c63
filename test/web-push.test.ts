/**
 * Issue 14, Web Push wake-ups: Debian's Firefox ESR (driven over WebDriver BiDi) runs the web
 * authenticator from a real `latch server`, paired with a computer running a real `latch agent`;
 * the push service is test/helpers/push-service-standin.ts, a stand-in for Mozilla's autopush
 * (the only fake: the real push services are unreachable here). Chromium cannot subscribe here
 * (it needs Google's FCM). Skips locally without firefox-esr; fails under CI=true.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { latch, startLatchServer, tempDir, type LatchServer } from './helpers/latch-process.js';
import { startAgent } from './helpers/web-paired-page.js';
import type { Watched } from './helpers/latch-ssh-env.js';
import { startSshd, sshArgs, type TestSshd } from './helpers/sshd.js';
import { run } from './helpers/agent-test-env.js';
import { LATCH_CLI } from './helpers/latch-process.js';
import { firefoxMissing, startFirefox, writeUserJs, type Firefox } from './helpers/firefox-bidi.js';
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

/** The profile's prefs, as issue 14 lists them. */
function prefs(): Record<string, string | number | boolean> {
  return {
    'dom.push.serverURL': standin.wsUrl,
    'dom.push.testing.allowInsecureServerURL': true,
    'dom.push.connection.enabled': true,
    'permissions.default.desktop-notification': 1,
    // Headless Firefox has no notification daemon: its own alert windows instead.
    'alerts.useSystemBackend': false,
    // A worker with no page open stops after a second without events, so a push really wakes one.
    'dom.serviceWorkers.idle_timeout': 1000,
    'dom.serviceWorkers.idle_extended_timeout': 5000,
  };
}

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

/** The notifications the app's service worker is showing, read from a page outside its scope. */
async function notifications(f: Firefox, tab: string): Promise<{ title: string; body: string; data: { instance: string; queue: string } }[]> {
  return f.evaluate(tab, `async () => {
    const reg = await navigator.serviceWorker.getRegistration('/app/');
    if (!reg) return [];
    return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, data: n.data }));
  }`);
}

before(async () => {
  if (skip) return;
  standin = await startPushServiceStandIn();
  srv = await startLatchServer({ env: { ...process.env, NODE_EXTRA_CA_CERTS: standin.caFile } });
  profile = tempDir('firefox');
  writeUserJs(profile, prefs());
  ff = await startFirefox(profile);
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
  ({ agent, agentSocket } = await startAgent(computer));
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

test('every tab closed, ssh through latch agent: a new service worker instance wakes and shows the request\'s title', { skip }, async () => {
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
  const sshDone = ssh();
  await agent.waitFor(/sent to your phone \(push\)/);
  await standin.waitForPost((p) => p.status === 201);
  await f.navigate(blank, `${srv.url}/app/icon.svg`);
  const shown = await until<{ title: string; body: string; data: { instance: string } }[]>(f, blank, `async () => {
    const reg = await navigator.serviceWorker.getRegistration('/app/');
    const list = reg ? (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, data: n.data })) : [];
    return list.length ? list : undefined;
  }`, 'the notification', 100);
  assert.equal(shown.length, 1);
  assert.match(shown[0]!.title, new RegExp(`^SSH login as ${user}@\\[127\\.0\\.0\\.1\\]:${sshd.port}$`));
  assert.equal(shown[0]!.body, 'from laptop');
  assert.notEqual(shown[0]!.data.instance, before, 'the notification came from a new worker instance, woken by the push');
  // Opening the card from the notification: /app/#requests, where the card is answered.
  await f.navigate(blank, `${srv.url}/app/#requests`);
  await until(f, blank, `async () => document.querySelector('#cards article button.primary, #cards article button[data-answer=approve]') !== null || [...document.querySelectorAll('#cards article button')].some((b) => b.textContent === 'Approve')`, 'the card');
  await until(f, blank, `async () => { const b = [...document.querySelectorAll('#cards article button')].find((b) => b.textContent === 'Approve'); if (!b || b.disabled) return false; b.click(); return true; }`, 'Approve to arm and be clicked');
  const r = await sshDone;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /logged-in/);
  void notifications;
});

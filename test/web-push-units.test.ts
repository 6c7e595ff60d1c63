/**
 * Issue 14, the pure parts of push: the registration body the relay accepts (PROTOCOL.md §3.9),
 * the payload size rule (envelope when it fits in 4 KB, else a content-free wake), Retry-After,
 * the page's "why push is off" (denied / unsupported / iOS not installed) and the notification
 * title a request gets (never more than its card's headline).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePushRegistration } from '../src/relay/push-registration.js';
import { MAX_PUSH_PLAINTEXT_BYTES, pushPayload, retryAfterSeconds } from '../src/relay/push-sender.js';
import { describePushState, pushUnavailable, type PushEnv } from '../src/web/web-push.js';
import { requestNoticeTitle } from '../src/authenticator/request-notice-title.js';
import { encodeBase64url } from '../src/protocol/base64url.js';
import { SshWriter } from '../src/protocol/ssh/ssh-wire.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ed25519PublicKeyBlob } from '../src/protocol/ssh/ssh-public-key.js';
import { ed25519SignatureBlob } from '../src/protocol/ssh/ssh-signature.js';
import { HOSTBOUND_METHOD } from '../src/protocol/ssh/ssh-userauth.js';

const p256dh = encodeBase64url(new Uint8Array(65).fill(1).map((v, i) => (i === 0 ? 4 : v)));
const auth = encodeBase64url(new Uint8Array(16).fill(2));

test('push registration: exactly endpoint + keys, https only, exact key sizes; {"endpoint":null} removes', () => {
  assert.deepEqual(parsePushRegistration({ endpoint: 'https://push.example/x', keys: { p256dh, auth } }), { endpoint: 'https://push.example/x', p256dh, auth });
  assert.equal(parsePushRegistration({ endpoint: null }), null);
  const bad: unknown[] = [
    { endpoint: 'http://push.example/x', keys: { p256dh, auth } },
    { endpoint: 'https://user:pw@push.example/x', keys: { p256dh, auth } },
    { endpoint: 'https://push.example/x', keys: { p256dh, auth }, expirationTime: null },
    { endpoint: 'https://push.example/x', keys: { p256dh: auth, auth } },
    { endpoint: 'https://push.example/x', keys: { p256dh, auth: p256dh } },
    { endpoint: 'https://push.example/x', keys: { p256dh: `${p256dh}=`, auth } },
    { endpoint: `https://push.example/${'a'.repeat(2048)}`, keys: { p256dh, auth } },
    { endpoint: null, keys: { p256dh, auth } },
    [],
    'x',
  ];
  for (const b of bad) assert.throws(() => parsePushRegistration(b), TypeError, JSON.stringify(b).slice(0, 80));
});

test('push payload: the envelope when the JSON fits in a 4096-byte push, else a content-free wake', () => {
  const small = JSON.parse(pushPayload('Q'.repeat(22), { id: '7', body: new Uint8Array(100), receivedAt: 0 })) as Record<string, unknown>;
  assert.deepEqual(Object.keys(small).sort(), ['envelope', 'id', 'queue', 'v']);
  const large = pushPayload('Q'.repeat(22), { id: '8', body: new Uint8Array(3000), receivedAt: 0 });
  assert.deepEqual(JSON.parse(large), { v: 1, queue: 'Q'.repeat(22), id: '8' });
  assert.equal(MAX_PUSH_PLAINTEXT_BYTES, 3993);
  for (let n = 2900; n < 3000; n++) assert.ok(Buffer.byteLength(pushPayload('Q'.repeat(22), { id: '9', body: new Uint8Array(n), receivedAt: 0 })) <= MAX_PUSH_PLAINTEXT_BYTES);
});

test('Retry-After: seconds or an HTTP date, bounded; 60 s when absent or unreadable', () => {
  assert.equal(retryAfterSeconds('5'), 5);
  assert.equal(retryAfterSeconds(undefined), 60);
  assert.equal(retryAfterSeconds('soon'), 60);
  assert.equal(retryAfterSeconds('99999999'), 86400);
  const inTen = new Date(Date.now() + 10_000).toUTCString();
  assert.ok(retryAfterSeconds(inTen) <= 10 && retryAfterSeconds(inTen) >= 8);
});

test('why push is off: iOS not installed, unsupported; and what the Computers screen says', () => {
  const base: PushEnv = { serviceWorker: {} as ServiceWorkerContainer, userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0', standalone: false, hasPushManager: true, notificationPermission: 'default' };
  assert.equal(pushUnavailable(base), undefined);
  const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
  assert.equal(pushUnavailable({ ...base, userAgent: iphone }), 'ios-not-installed');
  assert.equal(pushUnavailable({ ...base, userAgent: iphone, standalone: true }), undefined);
  assert.equal(pushUnavailable({ ...base, hasPushManager: false }), 'unsupported');
  const { serviceWorker: _sw, ...noSw } = base;
  assert.equal(pushUnavailable(noSw), 'unsupported');
  assert.equal(describePushState({ on: false, why: 'denied' }), 'Push notifications: off (notifications are blocked for this site in the browser settings)');
  assert.match(describePushState({ on: false, why: 'ios-not-installed' }), /add Latch to the Home Screen/);
  assert.equal(describePushState({ on: true, pairings: ['laptop'], offFor: [] }), 'Push notifications: on');
});

test('notification titles are the card headline, one line, cut at 120 characters', async () => {
  const key = new SshWriter().string('ssh-ed25519').string(new Uint8Array(32).fill(9)).bytes();
  // A login as ssh makes it with a host that proved itself (docs/AGENT.md "Verified hosts"): the
  // host-bound method names the host key, whose signature over the session id is the last bind.
  const sid = new Uint8Array(32).fill(7);
  const hostSecret = ed25519.utils.randomSecretKey();
  const hostKey = ed25519PublicKeyBlob(ed25519.getPublicKey(hostSecret));
  const bind = { host_key: encodeBase64url(hostKey), session_id: encodeBase64url(sid), signature: encodeBase64url(ed25519SignatureBlob(ed25519.sign(sid, hostSecret))), is_forwarding: false };
  const userauth = (method: string): Uint8Array => {
    const w = new SshWriter().string(sid).byte(50).string('ada').string('ssh-connection').string(method).bool(true).string('ssh-ed25519').string(key);
    if (method === HOSTBOUND_METHOD) w.string(hostKey);
    return w.bytes();
  };
  const prod = { host: 'prod-1', port: 22 };
  const verified = { kind: 'ssh_sign' as const, key: encodeBase64url(key), data: encodeBase64url(userauth(HOSTBOUND_METHOD)), binds: [bind] };
  assert.equal(await requestNoticeTitle({ ...verified, host_hint: prod }, 'laptop'), 'SSH login as ada@prod-1');
  assert.equal(await requestNoticeTitle(verified, 'laptop'), 'SSH login as ada (host not named)');
  // Whatever the card would badge "host NOT verified" says so in the notification too.
  const plain = { kind: 'ssh_sign' as const, key: encodeBase64url(key), data: encodeBase64url(userauth('publickey')), binds: [] };
  assert.equal(await requestNoticeTitle({ ...plain, host_hint: prod }, 'laptop'), 'SSH login as ada@prod-1 (host NOT verified)');
  assert.equal(await requestNoticeTitle(plain, 'laptop'), 'SSH login as ada (host not named, NOT verified)');
  assert.equal(await requestNoticeTitle({ ...verified, binds: [{ ...bind, is_forwarding: true }], host_hint: prod }, 'laptop'), 'SSH login as ada@prod-1 (host NOT verified)');
  assert.equal(await requestNoticeTitle({ ...verified, binds: [], host_hint: prod }, 'laptop'), 'SSH login as ada@prod-1 (host NOT verified)');
  // A bind whose host signature fails is refused by the card: the notification names no host.
  const forged = { ...bind, session_id: encodeBase64url(new Uint8Array(32).fill(8)) };
  assert.equal(await requestNoticeTitle({ ...verified, binds: [forged], host_hint: prod }, 'laptop'), 'SSH signature request');
  const commit = 'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nFix the parser\n\nbody\n';
  assert.equal(await requestNoticeTitle({ kind: 'sign_message', key: encodeBase64url(key), namespace: 'git', message: encodeBase64url(new TextEncoder().encode(commit)) }, 'laptop'), 'Git commit: Fix the parser');
  const long = commit.replace('Fix the parser', `Fix\u202e ${'x'.repeat(300)}`);
  const t = await requestNoticeTitle({ kind: 'sign_message', key: encodeBase64url(key), namespace: 'git', message: encodeBase64url(new TextEncoder().encode(long)) }, 'laptop');
  assert.ok(t.length <= 120 && !t.includes('\u202e'));
  assert.equal(await requestNoticeTitle({ kind: 'me' }, 'laptop'), 'laptop is asking for this authenticator');
});

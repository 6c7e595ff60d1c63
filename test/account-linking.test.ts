/**
 * Account linking end to end (issue 13) over real processes: a `latch server` (custody + embedded
 * ledger), CLI authenticator homes, `latch device run`, and a self-custody parent whose key is a
 * file. One test per rule of the issue; they run in order on one server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { latch, latchRun, startLatchServer, tempDir, type LatchServer } from './helpers/latch-process.js';
import { cliLogin, json, outboxCode, RECOVERY_PASSPHRASE, sdkLogin } from './helpers/custody-env.js';
import { flowPublicKeyFromPrivate, generateFlowPrivateKey } from '../src/ledger/flow/flow-signer.js';
import { SIGN_ALGO_ECDSA_P256, SIGN_ALGO_ECDSA_SECP256K1 } from '../src/ledger/flow/flow-account-key.js';
import { bytesToHex } from '../src/ledger/flow/flow-hex.js';
import { CustodyClient } from '../src/sdk/custody-client.js';
import { toRestTransaction } from '../src/ledger/flow/flow-rest-shape.js';
import { deviceSigner, newDeviceKey } from '../src/authenticator/custody-device-key.js';
import { newCustodyInbox } from '../src/authenticator/custody-inbox.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import type { AccountSigner } from '../src/sdk/custody-client.js';
import { custodyStoreOf } from './helpers/custody-pg.js';

interface Shown { address: string; balance: string; keys: { index: string; sequence_number: string; weight: string; revoked: boolean }[]; parents: { address: string; state: string }[]; children: string[] }

const env = { LATCH_RECOVERY_PASSPHRASE: RECOVERY_PASSPHRASE };
let server: LatchServer;
let phone: string; // the child's first device (CLI home)
let child: string;
let kit: string;
let walletHome: string; // a logged-in home that makes self-custody parents
let parent: string;
let parentKey: string;
let bob: string; // a recipient
/** The child's second device (SDK, its inbox registered): a link needs one to be told (docs/CUSTODY.md "Account linking"). */
let laptop: { client: CustodyClient; device: AccountSigner; sent: { url: string; init: RequestInit }[] };
const keysDir = tempDir('parent-keys');

const show = async (address?: string): Promise<Shown> => json<Shown>(await latchRun(['account', 'show', ...(address ? [address] : []), '--json'], { home: phone }));
/** The account as the ledger holds it (keys with sequence numbers, balance, links), read over HTTP without a process. */
const state = async (address = child): Promise<Shown> => (await (await fetch(`${server.url}/custody/v1/ledger/accounts/${address}`)).json()) as Shown;
const selfCustodyParent = async (name: string): Promise<{ address: string; file: string }> => {
  const file = join(keysDir, `${name}.json`);
  return { address: json<{ address: string }>(await latchRun(['account', 'create', '--self-custody', '--key-file', file, '--json'], { home: walletHome })).address, file };
};
/** The parent side needs no login: the server is named, the key file signs. */
const asParent = (args: string[]) => latchRun(args, { home: tempDir('no-login'), env: { LATCH_SERVER: server.url } });

before(async () => {
  server = await startLatchServer({ args: ['--recovery-delay', '0'] });
  phone = await cliLogin(server, 'phone', 'lin@example.com');
  const cloud = join(tempDir('cloud'), 'Dropbox');
  mkdirSync(cloud);
  child = json<{ address: string }>(await latchRun(['account', 'create', '--recovery-dir', cloud, '--json'], { home: phone, env })).address;
  kit = join(cloud, `latch-recovery-${child}.json`);
  walletHome = await cliLogin(server, 'wallet', 'wallet@example.com');
  bob = json<{ address: string }>(await latchRun(['account', 'create', '--skip-recovery', '--json'], { home: walletHome })).address;
  // A second device joins (the phone approves); the test sees its requests.
  const sent: { url: string; init: RequestInit }[] = [];
  const client = new CustodyClient({ server: server.url, fetch: (u, i) => (sent.push({ url: String(u), init: i ?? {} }), fetch(u, i)) });
  const signer = deviceSigner(newDeviceKey());
  const { challenge } = await client.loginStart('lin@example.com');
  await client.loginComplete('lin@example.com', outboxCode(server.dataDir, 'lin@example.com'), challenge, signer);
  const run = latch(['device', 'run', '--auto-approve'], { home: phone });
  await run.waitFor(/custody: listening/);
  const { join_id } = await client.join(child, 'laptop');
  const joined = await client.waitForJoin(join_id, { pollMs: 50 });
  run.kill();
  await client.registerInbox(child, newCustodyInbox(await sodiumReady(), server.url).wire, signer);
  laptop = { client, device: { keyIndex: joined.key_index!, signer }, sent };
});
after(() => server.stop());

test('create a Latch account and a self-custody parent (new P-256 key, 0600, weight 1000, never overwritten)', async () => {
  ({ address: parent, file: parentKey } = await selfCustodyParent('parent'));
  assert.equal(statSync(parentKey).mode & 0o777, 0o600);
  const key = JSON.parse(readFileSync(parentKey, 'utf8')) as Record<string, unknown>;
  assert.deepEqual([key.address, key.key_index, key.signature_algorithm], [parent, 0, 'ECDSA_P256']);
  const shown = await show(parent);
  assert.deepEqual(shown.keys.map((k) => [k.weight, k.revoked]), [['1000', false]]);
  const again = await latchRun(['account', 'create', '--self-custody', '--key-file', parentKey], { home: walletHome });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /\[key_file_exists\]/);
  assert.deepEqual(JSON.parse(readFileSync(parentKey, 'utf8')), key);
  assert.deepEqual((await show()).parents, []);
});

test('link: the card says the parent will be able to move everything; linking twice is idempotent', async () => {
  const r = await latchRun(['account', 'link', '--parent', parent, '--json'], { home: phone });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(`${parent} will be able to move everything in this account`), r.stderr);
  // Honest about undoing it: a published link cannot be unlinked while the parent has no Manager.
  assert.ok(r.stderr.includes(`Until ${parent} redeems it, anyone holding ${parent}'s key can claim it. Undo after ${parent} redeems: latch account unlink --parent ${parent}`), r.stderr);
  const out = JSON.parse(r.stdout) as { parent: string; state: string; already: boolean; transaction: { envelope_signatures: { key_index: string }[] } };
  assert.deepEqual([out.parent, out.state, out.already], [parent, 'published', false]);
  assert.deepEqual(out.transaction.envelope_signatures.map((s) => s.key_index).sort(), ['0', '1'], 'device + server: two of three');
  assert.deepEqual((await show()).parents, [{ address: parent, state: 'published' }], 'account show --json lists the parent');
  const linked = await state();
  const twice = json<{ already: boolean; state: string }>(await latchRun(['account', 'link', '--parent', parent, '--json'], { home: phone }));
  assert.deepEqual([twice.already, twice.state], [true, 'published']);
  assert.deepEqual(await state(), linked, 'nothing sent the second time');
  // The server's own idempotent branch, not only the SDK's check: the route called twice with a
  // freshly signed link to a parent already linked sends nothing and says so.
  for (let i = 0; i < 2; i++) {
    const again = await route('link', parent);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual([again.body.already, again.body.state], [true, 'published']);
  }
  assert.deepEqual(await state(), linked, 'nothing sent by the route either');
});

test('the server co-signs a link only to the parent named in the request (a replay under another parent is refused)', async () => {
  const { client, device, sent } = laptop;
  const other = await selfCustodyParent('other');
  const third = await selfCustodyParent('third');
  await client.linkParent({ address: child, parent: other.address, device });
  const req = sent.find((s) => s.url.endsWith(`/accounts/${child}/links`))!;
  const body = JSON.parse(String(req.init.body)) as { parent: string; transaction: unknown };
  assert.equal(body.parent, other.address);
  const before = await state();
  const replay = await fetch(req.url, { ...req.init, body: JSON.stringify({ ...body, parent: third.address }) });
  assert.equal(replay.status, 403);
  assert.equal(((await replay.json()) as { error: { code: string } }).error.code, 'parent_mismatch');
  // Nor through the plain co-sign route, which names no parent.
  const cosign = await fetch(req.url.replace(/\/links$/, '/cosign'), { ...req.init, body: JSON.stringify({ transaction: body.transaction }) });
  assert.equal(((await cosign.json()) as { error: { code: string } }).error.code, 'use_link_route');
  assert.deepEqual(await state(), before);
  assert.deepEqual(before.parents.map((p) => p.address).sort(), [parent, other.address].sort());
});

/** POST the laptop's own link/unlink request straight to the custody route; `tamper` breaks its signature. */
const route = async (kind: 'link' | 'unlink', p: string, tamper = false, via: 'route' | 'sign-request' = 'route'): Promise<{ status: number; body: { already?: boolean; state?: string; request_id?: string; error?: { code: string } } }> => {
  const acct = await laptop.client.getAccount(child);
  const auth = (laptop.sent.at(-1)!.init.headers as Record<string, string>).authorization!;
  const tx = toRestTransaction(await laptop.client.buildSigned(child, { kind, parent: p }, laptop.device, [laptop.device], acct));
  if (tamper) tx.envelope_signatures[0]!.signature = tx.envelope_signatures[0]!.signature.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const path = via === 'sign-request' ? 'sign-requests' : kind === 'link' ? 'links' : 'unlinks';
  const res = await fetch(`${server.url}/custody/v1/accounts/${child}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify(via === 'sign-request' ? { transaction: tx } : { parent: p, transaction: tx }) });
  return { status: res.status, body: (await res.json()) as never };
};

test('the device signature is checked before the link checks: a token alone learns nothing (already linked, itself, not linked)', async () => {
  const before = await state();
  for (const [kind, p] of [['link', parent], ['link', child], ['unlink', bob]] as const) {
    const r = await route(kind, p, true);
    assert.equal(r.body.error?.code, 'invalid_signature', `${kind} ${p}: ${JSON.stringify(r.body)}`);
    assert.equal(r.status, 403);
  }
  assert.deepEqual(await state(), before);
});

test('redeem: the parent claims the capability by its own signature; a redeem with nothing published is refused', async () => {
  const r = json<{ parent: string; child: string; status: string }>(await asParent(['account', 'redeem', child, '--parent-key', parentKey, '--json']));
  assert.deepEqual([r.parent, r.child, r.status], [parent, child, 'sealed']);
  assert.deepEqual((await state()).parents.find((p) => p.address === parent), { address: parent, state: 'redeemed' });
  assert.deepEqual((await show(parent)).children, [child]);
  const stray = await selfCustodyParent('stray');
  const before = await state();
  const none = await asParent(['account', 'redeem', child, '--parent-key', stray.file]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /\[no_published_capability\]/);
  // The parent's address with another key: this route takes no token, so every signature or key
  // refusal of the ledger is one answer to the caller (which one is in the server's log only).
  const forged = join(tempDir('forged'), 'forged.json');
  writeFileSync(forged, JSON.stringify({ ...JSON.parse(readFileSync(parentKey, 'utf8')), private_key: JSON.parse(readFileSync(stray.file, 'utf8')).private_key }), { mode: 0o600 });
  const wrong = await asParent(['account', 'redeem', child, '--parent-key', forged]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /\[parent_signature_refused\]/);
  assert.doesNotMatch(wrong.stderr, /invalid_signature|unknown_key/);
  await server.proc.waitFor(/parent redeem for \S+ refused by the ledger: invalid_signature/);
  assert.deepEqual(await state(), before);
});

test('the parent moves the child\'s funds alone: no device key, no server co-signature', async () => {
  const before = await state();
  const r = json<{ transaction: { payer: string; envelope_signatures: { address: string }[]; payload_signatures: unknown[] } }>(
    await asParent(['account', 'transfer', '--from-child', child, '--to', bob, '--amount', '25', '--parent-key', parentKey, '--json']),
  );
  // Flow REST addresses carry no 0x.
  assert.equal(`0x${r.transaction.payer}`, parent);
  assert.deepEqual(r.transaction.envelope_signatures.map((s) => `0x${s.address}`), [parent]);
  assert.equal(r.transaction.payload_signatures.length, 0);
  const after = await state();
  assert.equal(Number(after.balance), Number(before.balance) - 25);
  assert.deepEqual(after.keys.map((k) => k.sequence_number), before.keys.map((k) => k.sequence_number), 'no key of the child signed');
});

test('the key file of an existing account works as the parent key: secp256k1 too', async () => {
  const { client } = await sdkLogin(server, 'wallet@example.com');
  const sk = generateFlowPrivateKey(SIGN_ALGO_ECDSA_SECP256K1);
  const { address } = await client.createSelfCustodyAccount({ publicKey: flowPublicKeyFromPrivate(sk, SIGN_ALGO_ECDSA_SECP256K1), signatureAlgorithm: 'ECDSA_secp256k1', hashAlgorithm: 'SHA2_256' });
  const file = join(keysDir, 'secp256k1.json');
  writeFileSync(file, JSON.stringify({ type: 'latch-flow-key', version: 1, address, key_index: 0, signature_algorithm: 'ECDSA_secp256k1', hash_algorithm: 'SHA2_256', private_key: bytesToHex(sk) }), { mode: 0o600 });
  json(await latchRun(['account', 'link', '--parent', address, '--json'], { home: phone }));
  json(await asParent(['account', 'redeem', child, '--parent-key', file, '--json']));
  const before = Number((await state()).balance);
  json(await asParent(['account', 'transfer', '--from-child', child, '--to', bob, '--amount', '2', '--parent-key', file, '--json']));
  assert.equal(Number((await state()).balance), before - 2);
});

test('unlink (device + server): the parent loses access at once and is refused; nothing moves', async () => {
  const r = json<{ state: string; transaction: { envelope_signatures: { key_index: string }[] } }>(await latchRun(['account', 'unlink', '--parent', parent, '--json'], { home: phone }));
  assert.equal(r.state, 'unlinked');
  assert.deepEqual(r.transaction.envelope_signatures.map((s) => s.key_index).sort(), ['0', '1']);
  const before = await state();
  assert.equal(before.parents.some((p) => p.address === parent), false);
  assert.deepEqual((await state(parent)).children, []);
  const refused = await asParent(['account', 'transfer', '--from-child', child, '--to', bob, '--amount', '1', '--parent-key', parentKey]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /\[not_a_parent\]/);
  assert.deepEqual(await state(), before);
});

test('bad input: unknown parent, itself, unlinking a parent that is not linked or has no Manager; clear errors and nothing changes', async () => {
  const before = await state();
  for (const [args, code] of [
    [['account', 'link', '--parent', '0x00000000000000aa'], 'unknown_parent'],
    [['account', 'link', '--parent', child], 'self_link'],
    [['account', 'unlink', '--parent', parent], 'not_linked'],
  ] as const) {
    const r = await latchRun([...args], { home: phone });
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, new RegExp(`\\[${code}\\]`));
  }
  assert.deepEqual(await state(), before);
  // Published, never redeemed, to a parent with no Manager: the standard unlink cannot apply.
  const fresh = await selfCustodyParent('fresh');
  json(await latchRun(['account', 'link', '--parent', fresh.address, '--json'], { home: phone }));
  const published = await state();
  const noManager = await latchRun(['account', 'unlink', '--parent', fresh.address], { home: phone });
  assert.equal(noManager.code, 1);
  assert.match(noManager.stderr, /\[parent_has_no_manager\]/);
  assert.deepEqual(await state(), published);
  const usage = await latchRun(['account', 'link', '--parent', 'nothex'], { home: phone });
  assert.equal(usage.code, 2);
  assert.deepEqual(await state(), published);
});

test('recovery and self-custody keep working on a linked account; a revoked device cannot link', async () => {
  // Recover onto a new device with the kit (delay 0): the account's links are untouched.
  const linked = (await state()).parents;
  const newPhone = await cliLogin(server, 'new phone', 'lin@example.com');
  const rec = json<{ status: string; key_index: number }>(await latchRun(['account', 'recover', '--recovery-file', kit, '--json'], { home: newPhone, env }));
  assert.equal(rec.status, 'completed');
  assert.deepEqual((await state()).parents, linked);
  // A device that was revoked cannot link.
  const lost = await cliLogin(server, 'lost phone', 'lin@example.com');
  const lostKey = json<{ key_index: number }>(await latchRun(['account', 'recover', '--recovery-file', kit, '--json'], { home: lost, env })).key_index;
  json(await latchRun(['account', 'revoke', '--key', String(lostKey), '--json'], { home: phone }));
  const before = await state();
  const revoked = await latchRun(['account', 'link', '--parent', parent], { home: lost });
  assert.equal(revoked.code, 1);
  // Revoking the key killed its tokens, refresh token included (issue 15 §3): the server refuses it.
  assert.match(revoked.stderr, /\[unauthorized\]/);
  assert.doesNotMatch(revoked.stderr, /\[link_needs_second_device\]|\[link_delayed\]/);
  assert.deepEqual(await state(), before);
  // Self-custody: a link now takes two devices; the other device's card says what it grants.
  json(await latchRun(['account', 'self-custody', '--json'], { home: phone }));
  const run = latch(['device', 'run', '--auto-approve'], { home: newPhone });
  await run.waitFor(/custody: listening/);
  const r = json<{ state: string; transaction: { envelope_signatures: { key_index: string }[] } }>(await latchRun(['account', 'link', '--parent', parent, '--json'], { home: phone }));
  assert.equal(r.state, 'published');
  assert.deepEqual(r.transaction.envelope_signatures.map((s) => s.key_index).sort(), ['0', String(rec.key_index)].sort());
  await run.waitFor(new RegExp(`${parent} will be able to move everything in this account`));
  run.kill();
  json(await asParent(['account', 'redeem', child, '--parent-key', parentKey, '--json']));
  json(await asParent(['account', 'transfer', '--from-child', child, '--to', bob, '--amount', '1', '--parent-key', parentKey, '--json']));
});

test('after self-custody a link or unlink asked of another device passes the same link checks (itself, unknown parent, not linked, already linked)', async () => {
  const before = await state();
  for (const [kind, p, code] of [['link', child, 'self_link'], ['link', '0x00000000000000aa', 'unknown_parent'], ['unlink', bob, 'not_linked'], ['link', parent, 'already_linked']] as const) {
    const r = await route(kind, p, false, 'sign-request');
    assert.equal(r.body.error?.code, code, `${kind} ${p}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.request_id, undefined, 'no other device is asked');
  }
  assert.deepEqual(await state(), before);
});

test('the custody server audits link, redeem and unlink', async () => {
  const db = await custodyStoreOf(server.dataDir, { readonly: true });
  const rows = await db.all<{ action: string; decision: string; detail: string }>("SELECT action, decision, detail FROM audit WHERE account = ? AND action IN ('link', 'redeem', 'unlink') AND decision = 'accepted'", child);
  await db.close();
  for (const action of ['link', 'redeem', 'unlink']) assert.ok(rows.some((r) => r.action === action && (JSON.parse(r.detail) as { parent: string }).parent === parent), action);
  // Twice linked: once by device + server, once (after self-custody) by two devices.
  assert.equal(rows.filter((r) => r.action === 'link' && (JSON.parse(r.detail) as { parent: string }).parent === parent).length, 2);
  const ok = await latchRun(['server', 'audit', 'verify', '--data', server.dataDir, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('a link by one device and a token is not co-signed at once: refused on a one-device account; with two, every device is told and it waits the delay, cancellable', async () => {
  // Security review of issue 13: a thief holding the device key and a token would link his own
  // wallet and drain the account through it. Its own server, with a delay that never runs out here.
  const slow = await startLatchServer({ args: ['--recovery-delay', '3600'] });
  after(() => slow.stop());
  const home = await cliLogin(slow, 'phone', 'eve@example.com');
  const address = json<{ address: string }>(await latchRun(['account', 'create', '--skip-recovery', '--json'], { home })).address;
  const { client } = await sdkLogin(slow, 'eve@example.com');
  const thief = (await client.createSelfCustodyAccount({ publicKey: flowPublicKeyFromPrivate(generateFlowPrivateKey(SIGN_ALGO_ECDSA_SECP256K1), SIGN_ALGO_ECDSA_SECP256K1), signatureAlgorithm: 'ECDSA_secp256k1', hashAlgorithm: 'SHA2_256' })).address;
  const parents = async () => ((await (await fetch(`${slow.url}/custody/v1/ledger/accounts/${address}`)).json()) as Shown).parents;

  const alone = await latchRun(['account', 'link', '--parent', thief], { home });
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /\[link_needs_second_device\]/);
  assert.match(alone.stderr, /latch account join/);
  assert.deepEqual(await parents(), []);

  // A second device joins; it listens for notices.
  const approve = latch(['device', 'run', '--auto-approve'], { home });
  await approve.waitFor(/custody: listening/);
  const tablet = await cliLogin(slow, 'tablet', 'eve@example.com');
  json(await latchRun(['account', 'join', address, '--json'], { home: tablet }));
  approve.kill();
  const watch = latch(['device', 'run'], { home: tablet });
  await watch.waitFor(/custody: listening/);

  const first = await latchRun(['account', 'link', '--parent', thief], { home });
  assert.equal(first.code, 1);
  assert.match(first.stderr, /\[link_delayed\]/);
  assert.match(first.stderr, /waits until \d{4}-\d\d-\d\dT/);
  assert.match(first.stderr, /pending/);
  const changeId = /--cancel ([A-Za-z0-9_-]{22})/.exec(first.stderr)![1]!;
  await watch.waitFor(new RegExp(`NEW LINK of account ${address} to parent ${thief}.*--cancel ${changeId}`));
  assert.deepEqual(await parents(), [], 'nothing published');
  // Asked again during the delay: still waiting, still nothing published.
  const again = await latchRun(['account', 'link', '--parent', thief], { home });
  assert.match(again.stderr, /\[link_delayed\]/);
  assert.ok(again.stderr.includes(`--cancel ${changeId}`), again.stderr);
  // The other device cancels it; the thief's next try starts over (and waits again).
  assert.equal((await latchRun(['account', 'recover', '--cancel', changeId], { home: tablet })).code, 0);
  const after2 = await latchRun(['account', 'link', '--parent', thief], { home });
  assert.match(after2.stderr, /\[link_delayed\]/);
  assert.doesNotMatch(after2.stderr, new RegExp(changeId));
  watch.kill();
  assert.deepEqual(await parents(), []);
});

test('create --self-custody keeps the key file when the server may have created the account (answer lost), removes it on a 4xx refusal', async () => {
  // A stand-in for a network that fails after the request went out: a forwarding proxy in front
  // of the real server that passes the create on, reads the real answer, and drops the
  // connection instead of returning it (or, for the 4xx case, answers the server's refusal).
  const created: string[] = [];
  let mode: 'drop' | 'refuse' = 'drop';
  const target = new URL(server.url);
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (mode === 'refuse' && req.url!.endsWith('/self-custody-accounts')) {
        res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'refused_here', message: 'refused' } }));
        return;
      }
      const out = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        const got: Buffer[] = [];
        up.on('data', (c: Buffer) => got.push(c));
        up.on('end', () => {
          const answer = Buffer.concat(got);
          if (!req.url!.endsWith('/self-custody-accounts')) return void res.writeHead(up.statusCode!, up.headers).end(answer);
          created.push((JSON.parse(answer.toString()) as { address: string }).address);
          req.socket.destroy();
        });
      });
      out.end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  after(() => proxy.close());
  const via = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const lost = join(keysDir, 'answer-lost.json');
  const r = await latchRun(['account', 'create', '--self-custody', '--key-file', lost, '--server', via], { home: walletHome });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is kept/);
  assert.equal(created.length, 1, 'the server did create the account');
  assert.ok(existsSync(lost), 'the only copy of the key is still there');
  assert.equal(statSync(lost).mode & 0o777, 0o600);
  const key = JSON.parse(readFileSync(lost, 'utf8')) as { private_key: string };
  const onLedger = (await state(created[0])).keys as unknown as { public_key: string }[];
  assert.equal(onLedger[0]!.public_key, flowPublicKeyFromPrivate(Uint8Array.from(Buffer.from(key.private_key, 'hex')), SIGN_ALGO_ECDSA_P256));

  mode = 'refuse';
  const refused = join(keysDir, 'refused.json');
  const r2 = await latchRun(['account', 'create', '--self-custody', '--key-file', refused, '--server', via], { home: walletHome });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /\[refused_here\]/);
  assert.ok(!existsSync(refused), 'a key no account holds is not left behind');
});

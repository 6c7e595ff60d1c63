/**
 * Custody on PostgreSQL (issue 10): two `latch server` nodes share one database of their own
 * (`--custody-db` / LATCH_CUSTODY_DB) and one LATCH_MASTER_KEY. A client may talk to either:
 * an account made on node A is co-signed on node B, a device joins and one recovers through B,
 * and `latch server audit verify` checks the one chain both nodes wrote. Two nodes co-signing
 * for one account at once do not both spend the same daily limit (the ledger is the slow TEST
 * adapter, whose account reads and sends wait, so the requests overlap between the limit check
 * and the co-sign record). A third node reaches PostgreSQL
 * through a TCP relay the test cuts: custody answers 503 custody_db_unavailable while it is
 * cut, and works again, without a double co-sign, once it is back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { latchRun, startLatchServer, type LatchServer } from './helpers/latch-process.js';
import { awayFromUtcMidnight, custodyCall, joinSecondDevice, sdkLogin, sdkOwner } from './helpers/custody-env.js';
import { dropCustodyDatabases, freshCustodyDatabase } from './helpers/custody-pg.js';
import type { CustodyClient, CustodySigner } from '../src/sdk/custody-client.js';
import { parseAmount, ufix64ToUnits } from '../src/ledger/flow/json-cadence.js';
import { isLatchError } from '../src/util/latch-error.js';

const MASTER_KEY = randomBytes(32).toString('hex');
let url: string;
let a: LatchServer;
let b: LatchServer;
let env: NodeJS.ProcessEnv;
let bob: string;
let bobClient: CustodyClient;

before(async () => {
  url = await freshCustodyDatabase();
  env = { LATCH_CUSTODY_DB: url, LATCH_MASTER_KEY: MASTER_KEY, LATCH_TEST_LEDGER_DELAY_MS: '300', LATCH_TEST_LEDGER_READ_DELAY_MS: '200' };
  const args = ['--tx-limit', '100', '--daily-limit', '300', '--recovery-delay', '0'];
  // Both at once: the schema and the shared secrets are made once, whoever comes first.
  [a, b] = await Promise.all([startLatchServer({ args, env }), startLatchServer({ args, env })]);
  const bb = await sdkLogin(b, 'bob@example.com');
  bob = (await bb.client.createAccount({ deviceName: 'bob phone' })).address;
  bobClient = bb.client;
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await dropCustodyDatabases();
});

test('an account made on node A is co-signed, joined and recovered through node B; audit verify checks the one chain', async () => {
  assert.match(a.proc.stderr(), /custody state in PostgreSQL/);
  const owner = await sdkOwner(a, 'ada@example.com');
  // The same device logs in on B (the code went to B's outbox; the login state is shared) and co-signs there.
  const onB = await sdkLogin(b, owner.email, owner.signer);
  const before = ufix64ToUnits((await bobClient.getAccount(bob)).balance);
  const sent = await onB.client.transfer({ address: owner.address, to: bob, amount: '10', device: { keyIndex: 0, signer: owner.signer } });
  assert.equal(sent.status, 'sealed');
  assert.equal(ufix64ToUnits((await bobClient.getAccount(bob)).balance) - before, 10n * 100_000_000n);
  // A token issued by A is good on B (one JWT secret, in the database).
  assert.equal((await custodyCall(b, 'GET', `/accounts/${owner.address}`, { token: (await owner.client.refresh()).access_token })).status, 200);
  // Join: the new device asks on B, the first device approves on A.
  const second = await sdkLogin(b, owner.email);
  const { join_id } = await second.client.join(owner.address, 'laptop');
  const { key_index } = await owner.client.approveJoin({ joinId: join_id, address: owner.address, newDevicePublicKey: second.signer.publicKey, device: { keyIndex: 0, signer: owner.signer } });
  assert.equal((await second.client.waitForJoin(join_id, { pollMs: 50 })).status, 'approved');
  // Recovery (delay 0) through B with the recovery key made on A.
  const lost = await sdkLogin(b, owner.email);
  const account = await lost.client.getAccount(owner.address);
  const rec = await lost.client.recover({ address: owner.address, recovery: { keyIndex: 2, signer: owner.recovery }, newDevicePublicKey: lost.signer.publicKey, deviceName: 'new phone', account });
  assert.equal(rec.status, 'completed');
  const keys = (await owner.client.getAccount(owner.address)).keys;
  assert.ok(keys.some((k) => k.index === String(key_index) && k.public_key === second.signer.publicKey));
  assert.ok(keys.some((k) => k.public_key === lost.signer.publicKey && k.device_name === 'new phone'));
  // One chain, entries from both nodes, checked from either node's data dir (its anchors).
  for (const s of [a, b]) {
    const v = await latchRun(['server', 'audit', 'verify', '--data', s.dataDir, '--json'], { env: { LATCH_CUSTODY_DB: url, LATCH_MASTER_KEY: MASTER_KEY } });
    assert.equal(v.code, 0, v.stderr + v.stdout);
    const out = JSON.parse(v.stdout) as { ok: boolean; entries: number };
    assert.equal(out.ok, true);
    assert.ok(out.entries >= 8, v.stdout);
  }
});

interface Device {
  client: CustodyClient;
  signer: CustodySigner;
  keyIndex: number;
}

test('co-signs on node A and node B for one account at once do not together pass the daily limit', async () => {
  await awayFromUtcMidnight();
  const first = await sdkLogin(a, 'cy@example.com');
  const { address } = await first.client.createAccount({ deviceName: 'phone' });
  const devices: Device[] = [{ ...first, keyIndex: 0 }];
  // Three more devices (three more proposal keys, so the ledger's sequence numbers do not
  // serialize the sends): two talk to B, one to A.
  for (const [i, node] of [b, b, a].entries()) {
    const d = await sdkLogin(node, 'cy@example.com');
    const { join_id } = await d.client.join(address, `device ${i + 1}`);
    const { key_index } = await first.client.approveJoin({ joinId: join_id, address, newDevicePublicKey: d.signer.publicKey, device: { keyIndex: 0, signer: first.signer } });
    await d.client.joinStatus(join_id);
    devices.push({ ...d, keyIndex: key_index });
  }
  const transfer = (d: Device) => d.client.transfer({ address, to: bob, amount: '100', device: { keyIndex: d.keyIndex, signer: d.signer } });
  await transfer(devices[0]!);
  await transfer(devices[1]!);
  const before = ufix64ToUnits((await bobClient.getAccount(bob)).balance);
  // 200 of 300 spent; four devices, two on each node, ask for 100 at once.
  const outcomes = await Promise.allSettled(devices.map(transfer));
  const sealed = outcomes.filter((o) => o.status === 'fulfilled');
  assert.equal(sealed.length, 1, JSON.stringify(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'sealed'))));
  for (const r of outcomes) if (r.status === 'rejected') assert.ok(isLatchError(r.reason, 'over_limit'), String(r.reason));
  assert.equal(ufix64ToUnits((await bobClient.getAccount(bob)).balance) - before, 100n * 100_000_000n);
});

/** A TCP relay to PostgreSQL that the test cuts (every connection reset, nothing accepted) and restores. */
async function pgRelay(target: { host: string; port: number }): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let port = 0;
  let server: Server | undefined;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = createServer((c) => {
        const up = connect(target.port, target.host);
        for (const x of [c, up]) {
          sockets.add(x);
          x.on('close', () => sockets.delete(x));
          x.on('error', () => undefined);
        }
        c.pipe(up).pipe(c);
        c.on('close', () => up.destroy());
        up.on('close', () => c.destroy());
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  const cut = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const x of sockets) x.destroy();
    if (s) await new Promise((r) => s.close(r));
  };
  await listen();
  return { port, cut, restore: listen, close: cut };
}

test('PostgreSQL away: custody answers 503 custody_db_unavailable, the server keeps serving, and works again after, co-signing once', async () => {
  const u = new URL(url);
  const relay = await pgRelay({ host: u.hostname, port: Number(u.port || 5432) });
  u.port = String(relay.port);
  let c: LatchServer | undefined;
  try {
    c = await startLatchServer({ args: ['--recovery-delay', '0'], env: { ...env, LATCH_CUSTODY_DB: u.toString() } });
    const owner = await sdkOwner(c, 'dee@example.com');
    const tx = await owner.client.buildSigned(owner.address, { kind: 'transfer', amount: parseAmount('5'), to: bob }, { keyIndex: 0, signer: owner.signer }, [{ keyIndex: 0, signer: owner.signer }]);
    await relay.cut();
    const start = await custodyCall(c, 'POST', '/login/start', { body: { email: 'dee@example.com' } });
    assert.equal(start.status, 503);
    assert.equal(start.body.error?.code, 'custody_db_unavailable');
    await assert.rejects(owner.client.cosignTransaction(owner.address, tx), (e) => isLatchError(e, 'custody_db_unavailable'));
    // The relay part of the server still answers.
    assert.equal((await fetch(`${c.url}/v1/queues/${'A'.repeat(22)}/messages?wait=0`)).status < 500, true);
    await relay.restore();
    // Back: the same transaction is co-signed now, once; sent again it is a replay.
    const before = ufix64ToUnits((await bobClient.getAccount(bob)).balance);
    let sent;
    for (let i = 0; ; i++) {
      try {
        sent = await owner.client.cosignTransaction(owner.address, tx);
        break;
      } catch (e) {
        // Connections the pool held when the relay was cut fail once more; then fresh ones work.
        if (!isLatchError(e, 'custody_db_unavailable') || i >= 20) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(sent.status, 'sealed');
    await assert.rejects(owner.client.cosignTransaction(owner.address, tx), (e) => isLatchError(e, 'replay'));
    assert.equal(ufix64ToUnits((await bobClient.getAccount(bob)).balance) - before, 5n * 100_000_000n);
  } finally {
    await c?.stop();
    await relay.close();
  }
});

/**
 * Custody building blocks without a server: device-key separation, recovery kits, the audit
 * chain, the master-key vault, and a fuzz pass over the two parsers that face the network
 * (the HTTP JSON body parser and the boxed device-notice parser).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { sodiumReady } from '../src/protocol/sodium.js';
import { classifyCustodyMessage, deviceSigner, newDeviceKey } from '../src/authenticator/custody-device-key.js';
import { looksSynced, newRecoveryKey, readRecoveryKit, writeRecoveryKit } from '../src/authenticator/custody-recovery-kit.js';
import { parseNotice } from '../src/authenticator/custody-notices.js';
import { appendAudit, migrateAudit, verifyAuditChain } from '../src/custody/audit-log.js';
import { SqliteCustodyDb } from '../src/custody/sqlite-custody-db.js';
import { LocalMasterKey } from '../src/custody/master-key.js';
import { parseJsonBody } from '../src/custody/custody-http.js';
import { loginMessage } from '../src/custody/custody-api.js';
import { templateTransaction } from '../src/ledger/flow/cadence-templates.js';
import { envelopeMessage, payloadMessage, TRANSACTION_DOMAIN_TAG } from '../src/ledger/flow/flow-transaction.js';
import { verifyFlowSignature } from '../src/ledger/flow/flow-signer.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../src/ledger/flow/flow-account-key.js';
import { isLatchError } from '../src/util/latch-error.js';
import { tempDir } from './helpers/latch-process.js';

const tx = templateTransaction({
  network: 'emulator',
  call: { kind: 'transfer', amount: '1.00000000', to: '0x01cf0e2f2f715450' },
  referenceBlockId: 'ab'.repeat(32),
  proposalKey: { address: '0xf8d6e0586b0a20c7', keyIndex: 0, sequenceNumber: 3 },
  payer: '0xf8d6e0586b0a20c7',
  authorizer: '0xf8d6e0586b0a20c7',
});

test('the device key signs Flow transaction messages and login challenges, nothing else', async () => {
  const key = newDeviceKey();
  const signer = deviceSigner(key);
  for (const m of [envelopeMessage(tx), payloadMessage(tx), loginMessage(new Uint8Array(32).fill(7))]) {
    const sig = await signer.sign(m);
    assert.ok(verifyFlowSignature(m, sig, key.devicePublicKey, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256));
  }
  const refused = (e: unknown) => isLatchError(e, 'refused_message');
  // SSH-style data, a bare digest, a Flow tag with garbage, a login tag with the wrong length.
  const sshData = new Uint8Array([0, 0, 0, 32, ...new Uint8Array(32), 50, 0, 0, 0, 3, 103, 105, 116]);
  const withTag = new Uint8Array([...TRANSACTION_DOMAIN_TAG, 1, 2, 3]);
  const longLogin = new Uint8Array([...loginMessage(new Uint8Array(32)), 0]);
  for (const m of [sshData, new Uint8Array(32), withTag, longLogin, envelopeMessage(tx).subarray(0, 60), new Uint8Array(0)]) {
    await assert.rejects(signer.sign(m), refused);
  }
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      await assert.rejects(signer.sign(bytes), refused);
    }),
    { numRuns: 300 },
  );
  // Mutating one byte of a real message either keeps it well-formed or is refused; never a crash.
  const env = envelopeMessage(tx);
  fc.assert(
    fc.property(fc.nat(env.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const m = Uint8Array.from(env);
      m[i] = m[i]! ^ x;
      try {
        assert.equal(classifyCustodyMessage(m), 'transaction');
      } catch (e) {
        assert.ok(refused(e), String(e));
      }
    }),
    { numRuns: 500 },
  );
});

test('recovery kit: round trip, wrong passphrase, tampering, sync heuristic', async () => {
  const sodium = await sodiumReady();
  const dir = tempDir('kit');
  const k = newRecoveryKey();
  const path = writeRecoveryKit(sodium, dir, '0xf8d6e0586b0a20c7', k.secret, 'pass phrase');
  const kit = readRecoveryKit(sodium, path, 'pass phrase');
  assert.equal(kit.address, '0xf8d6e0586b0a20c7');
  assert.equal(kit.publicKey, k.publicKey);
  const sig = await kit.signer.sign(envelopeMessage(tx));
  assert.ok(verifyFlowSignature(envelopeMessage(tx), sig, k.publicKey, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256));
  await assert.rejects(kit.signer.sign(new Uint8Array(40)), (e) => isLatchError(e, 'refused_message'));
  assert.throws(() => readRecoveryKit(sodium, path, 'wrong'), (e) => isLatchError(e, 'bad_passphrase'));
  const f = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  writeFileSync(path, JSON.stringify({ ...f, address: '0x01cf0e2f2f715450' }));
  assert.throws(() => readRecoveryKit(sodium, path, 'pass phrase'), (e) => isLatchError(e, 'bad_passphrase')); // address is bound as AAD
  assert.equal(readFileSync(path, 'utf8').includes(Buffer.from(k.secret).toString('hex')), false);

  assert.equal(looksSynced(dir), false);
  for (const name of ['Dropbox', 'Google Drive', 'OneDrive - Contoso', 'CloudDrive']) {
    const d = join(dir, name, 'latch');
    mkdirSync(d, { recursive: true });
    assert.equal(looksSynced(d), true, name);
  }
  const marked = join(dir, 'plain');
  mkdirSync(join(marked, '.stfolder'), { recursive: true });
  assert.equal(looksSynced(marked), true);
});

test('recovery kit: a crafted kit asking for unbounded Argon2id work is refused at once, not run', async () => {
  const sodium = await sodiumReady();
  const dir = tempDir('kit-kdf');
  const k = newRecoveryKey();
  const path = writeRecoveryKit(sodium, dir, '0xf8d6e0586b0a20c7', k.secret, 'pass phrase');
  const f = JSON.parse(readFileSync(path, 'utf8')) as { kdf: Record<string, unknown> };
  const crafted = (kdf: Record<string, unknown>) => writeFileSync(path, JSON.stringify({ ...f, kdf: { ...f.kdf, ...kdf } }));
  // 2^32 passes would take days: the check must come before Argon2id runs (the test would hang otherwise).
  for (const opslimit of [5, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    crafted({ opslimit });
    const started = Date.now();
    assert.throws(() => readRecoveryKit(sodium, path, 'pass phrase'), (e) => isLatchError(e, 'recovery_kit_kdf_too_costly'), String(opslimit));
    assert.ok(Date.now() - started < 1000, `refused without deriving (${opslimit})`);
  }
  crafted({ memlimit: 2 ** 32 });
  assert.throws(() => readRecoveryKit(sodium, path, 'pass phrase'), (e) => isLatchError(e, 'recovery_kit_kdf_too_costly'));
  for (const bad of [{ opslimit: 0 }, { opslimit: 2.5 }, { opslimit: '3' }, { memlimit: -1 }]) {
    crafted(bad);
    assert.throws(() => readRecoveryKit(sodium, path, 'pass phrase'), (e) => isLatchError(e, 'bad_recovery_kit'), JSON.stringify(bad));
  }
  // SENSITIVE passes (the cap) still open; the kit's own MODERATE ones of course too.
  crafted({ opslimit: sodium.crypto_pwhash_OPSLIMIT_SENSITIVE });
  assert.throws(() => readRecoveryKit(sodium, path, 'pass phrase'), (e) => isLatchError(e, 'bad_passphrase')); // derived, then the box does not open
  crafted({});
  assert.equal(readRecoveryKit(sodium, path, 'pass phrase').publicKey, k.publicKey);
});

test('audit chain: verifies, and detects an edited, deleted or reordered row', async () => {
  const fresh = async (): Promise<{ db: Database.Database; store: SqliteCustodyDb }> => {
    const db = new Database(':memory:');
    const store = new SqliteCustodyDb(db);
    await migrateAudit(store);
    for (let i = 0; i < 6; i++) await store.tx((q) => appendAudit(q, { account: '0x01', action: 'cosign', decision: i % 2 ? 'signed' : 'refused', detail: { i } }));
    return { db, store };
  };
  const { db, store } = await fresh();
  assert.deepEqual({ ...(await verifyAuditChain(store)), head: 'x' }, { ok: true, entries: 6, head: 'x' });
  assert.throws(() => db.prepare('DELETE FROM audit WHERE seq = 2').run(), /append-only/);
  db.exec('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete');
  db.prepare("UPDATE audit SET decision = 'refused' WHERE seq = 4").run();
  assert.deepEqual(pick(await verifyAuditChain(store)), { ok: false, badSeq: 4 });
  const d2 = await fresh();
  d2.db.exec('DROP TRIGGER audit_no_delete');
  d2.db.prepare('DELETE FROM audit WHERE seq = 3').run();
  assert.equal((await verifyAuditChain(d2.store)).ok, false);
  const d3 = await fresh();
  d3.db.exec('DROP TRIGGER audit_no_update');
  d3.db.prepare("UPDATE audit SET at = '2000-01-01T00:00:00.000Z' WHERE seq = 1").run();
  assert.deepEqual(pick(await verifyAuditChain(d3.store)), { ok: false, badSeq: 1 });
});

function pick(v: Awaited<ReturnType<typeof verifyAuditChain>>): { ok: boolean; badSeq?: number } {
  return v.ok ? { ok: true } : { ok: false, badSeq: v.badSeq };
}

test('master key: 0600 file on first start, env override, purpose binding', async () => {
  const sodium = await sodiumReady();
  const dir = tempDir('mk');
  const mk = LocalMasterKey.open(sodium, dir, {});
  assert.equal(statSync(join(dir, 'master.key')).mode & 0o777, 0o600);
  const w = await mk.wrap(new Uint8Array([1, 2, 3]), 'server-key:0x01');
  assert.deepEqual([...(await LocalMasterKey.open(sodium, dir, {}).unwrap(w, 'server-key:0x01'))], [1, 2, 3]);
  await assert.rejects(mk.unwrap(w, 'server-key:0x02'), (e) => isLatchError(e, 'master_key'));
  const other = LocalMasterKey.open(sodium, dir, { LATCH_MASTER_KEY: 'ab'.repeat(32) });
  await assert.rejects(other.unwrap(w, 'server-key:0x01'), (e) => isLatchError(e, 'master_key'));
  assert.throws(() => LocalMasterKey.open(sodium, dir, { LATCH_MASTER_KEY: 'short' }), (e) => isLatchError(e, 'master_key'));
});

test('fuzz: the JSON body parser and the notice parser only ever throw clean errors', () => {
  const fields = { required: ['transaction'], optional: ['device_name'] };
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.json().map((s) => new TextEncoder().encode(s)), fc.anything().map((v) => new TextEncoder().encode(JSON.stringify(v) ?? 'x'))), (bytes) => {
      try {
        const o = parseJsonBody(Buffer.from(bytes), 'application/json', fields);
        assert.ok(o !== null && typeof o === 'object' && !Array.isArray(o) && 'transaction' in o);
        assert.ok(Object.keys(o).every((k) => k === 'transaction' || k === 'device_name'));
      } catch (e) {
        assert.ok(isLatchError(e), String(e));
      }
    }),
    { numRuns: 1000 },
  );
  const good = new TextEncoder().encode(JSON.stringify({ type: 'custody-join', join_id: 'x'.repeat(22), account: '0x01', device_name: 'd', device_public_key: 'a'.repeat(128), origin: 'o', expires_at: 1, server_url: 'http://x' }));
  assert.equal(parseNotice(good).type, 'custody-join');
  fc.assert(
    fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), fc.uint8Array({ maxLength: 50 }), (i, x, junk) => {
      for (const m of [Uint8Array.from(good, (b, j) => (j === i ? b ^ x : b)), junk]) {
        try {
          parseNotice(m);
        } catch (e) {
          assert.ok(e instanceof Error);
        }
      }
    }),
    { numRuns: 500 },
  );
  // A key-revoked notice: exactly its fields' types; a role or index it cannot have is refused.
  const revoked = { type: 'custody-key-revoked', account: '0x01', key_index: 2, role: 'recovery', key_fingerprint: 'SHA256:x', device_name: 'phone', revoked_at: 1, server_url: 'http://x' };
  const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));
  assert.equal(parseNotice(enc(revoked)).type, 'custody-key-revoked');
  assert.equal(parseNotice(enc({ ...revoked, role: 'unknown', key_fingerprint: undefined })).type, 'custody-key-revoked');
  for (const bad of [{ role: 'root' }, { key_index: -1 }, { key_index: 1.5 }, { key_index: '2' }, { device_name: undefined }, { revoked_at: 'now' }, { key_fingerprint: 7 }, { revoked_name: null }, { account: 1 }]) {
    assert.throws(() => parseNotice(enc({ ...revoked, ...bad })), /bad key-revoked notice/, JSON.stringify(bad));
  }
});

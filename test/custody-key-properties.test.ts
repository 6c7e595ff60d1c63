/**
 * Issue 15, property: over random sequences of join, co-signed add of a recovery key, revoke,
 * recovery and raw two-key submissions - with keys drawn from a small pool, so the same key is
 * offered again and again, in every role - after every step no public key appears twice among
 * the account's live keys and no single key holds weight 1000. Runs in-process against the
 * custody service and the embedded ledger (hundreds of sequences over HTTP would take minutes);
 * each rule has its own HTTP test in custody-key-uniqueness.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CustodyService } from '../src/custody/custody-service.js';
import { LocalMasterKey } from '../src/custody/master-key.js';
import { EmbeddedLedger } from '../src/ledger/embedded-ledger.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { deviceSigner, newDeviceKey, type CustodySigner } from '../src/authenticator/custody-device-key.js';
import { templateTransaction, type TemplateCall } from '../src/ledger/flow/cadence-templates.js';
import { FULL_WEIGHT, HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../src/ledger/flow/flow-account-key.js';
import { envelopeMessage, normalizeTransaction } from '../src/ledger/flow/flow-transaction.js';
import { toRestTransaction } from '../src/ledger/flow/flow-rest-shape.js';
import { bytesToHex } from '../src/ledger/flow/flow-hex.js';
import { CUSTODY_KEY_WEIGHT } from '../src/custody/custody-api.js';
import { LatchError } from '../src/util/latch-error.js';

const EMAIL = 'prop@example.com';
let dir: string;
let ledger: EmbeddedLedger;
let svc: CustodyService;
/** Pool of user keys: [0] creates each account as its device, [1] is its first recovery key. */
const pool: CustodySigner[] = Array.from({ length: 5 }, () => deviceSigner(newDeviceKey()));

before(async () => {
  // tmpfs when there is one: hundreds of accounts, each step a few synchronous SQLite commits.
  dir = mkdtempSync(join(process.platform === 'linux' ? '/dev/shm' : tmpdir(), 'latch-prop-'));
  const sodium = await sodiumReady();
  ledger = EmbeddedLedger.open(join(dir, 'ledger'));
  svc = await CustodyService.open({
    dataDir: join(dir, 'custody'),
    ledger,
    vault: LocalMasterKey.open(sodium, dir, {}),
    sodium,
    mailer: { send: async () => {} },
    log: () => {},
    publicUrl: () => 'http://127.0.0.1:1',
    recoveryDelaySeconds: 0,
    maxPerTransaction: '1000000.0',
    dailyLimit: '100000000.0',
  });
});
after(async () => {
  svc.close();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
});

const addKey = (k: number): TemplateCall => ({ kind: 'add-key', key: { publicKey: pool[k]!.publicKey, signAlgo: SIGN_ALGO_ECDSA_P256, hashAlgo: HASH_ALGO_SHA2_256, weight: CUSTODY_KEY_WEIGHT } });

/** The live index of pool key k on the account, if any (unique while the property holds). */
async function liveIndex(address: string, k: number): Promise<number | undefined> {
  return (await ledger.getAccount(address)).keys.find((x) => !x.revoked && x.publicKey === pool[k]!.publicKey)?.index;
}

/** A template transaction proposed by the first signer and envelope-signed by all of them (pool indexes). */
async function build(address: string, call: TemplateCall, signers: number[]): Promise<unknown> {
  const acct = await ledger.getAccount(address);
  const at = await Promise.all(signers.map((k) => liveIndex(address, k)));
  if (at.some((i) => i === undefined)) return undefined;
  let tx = templateTransaction({
    network: ledger.network,
    call,
    referenceBlockId: await ledger.latestBlockId(),
    proposalKey: { address, keyIndex: at[0]!, sequenceNumber: acct.keys[at[0]!]!.sequenceNumber },
    payer: address,
    authorizer: address,
  });
  for (const [i, k] of signers.entries()) {
    const sig = await pool[k]!.sign(envelopeMessage(tx));
    tx = normalizeTransaction({ ...tx, envelopeSignatures: [...tx.envelopeSignatures, { address, keyIndex: at[i]!, signature: bytesToHex(sig) }] });
  }
  return toRestTransaction(tx);
}

type Op =
  | { t: 'join'; key: number; by: number }
  | { t: 'add-recovery'; key: number; by: number }
  | { t: 'revoke'; index: number; by: number }
  | { t: 'recover'; key: number; by: number }
  | { t: 'submit-add'; key: number; a: number; b: number };

const k = fc.integer({ min: 0, max: pool.length - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('join' as const), key: k, by: k }),
  fc.record({ t: fc.constant('add-recovery' as const), key: k, by: k }),
  fc.record({ t: fc.constant('revoke' as const), index: fc.integer({ min: 0, max: 8 }), by: k }),
  fc.record({ t: fc.constant('recover' as const), key: k, by: k }),
  fc.record({ t: fc.constant('submit-add' as const), key: k, a: k, b: k }),
);

async function step(address: string, o: Op): Promise<void> {
  const owner = (key: number) => ({ email: EMAIL, device: pool[key]!.publicKey, account: address });
  switch (o.t) {
    case 'join': {
      const { join_id } = await svc.joinStart({ email: EMAIL, device: pool[o.key]!.publicKey }, address, { device_name: 'joiner' }, 'test');
      const tx = await build(address, addKey(o.key), [o.by]);
      if (tx) await svc.joinApprove(owner(o.by), join_id, { transaction: tx });
      return;
    }
    case 'add-recovery': {
      const tx = await build(address, addKey(o.key), [o.by]);
      if (tx) await svc.cosign(owner(o.by), address, { transaction: tx });
      return;
    }
    case 'revoke': {
      const tx = await build(address, { kind: 'revoke-key', keyIndex: o.index }, [o.by]);
      if (tx) await svc.cosign(owner(o.by), address, { transaction: tx });
      return;
    }
    case 'recover': {
      // `by` signs as the recovery key; the service decides whether it is one.
      const tx = await build(address, addKey(o.key), [o.by]);
      if (tx) await svc.recoverStart({ email: EMAIL, device: pool[o.key]!.publicKey }, address, { transaction: tx, device_name: 'recovered' });
      return;
    }
    case 'submit-add': {
      if (o.a === o.b) return;
      const tx = await build(address, addKey(o.key), [o.a, o.b]);
      if (tx) await svc.submit(owner(o.a), address, { transaction: tx });
      return;
    }
  }
}

async function assertInvariant(address: string, after: Op[]): Promise<void> {
  const live = (await ledger.getAccount(address)).keys.filter((x) => !x.revoked);
  const weight = new Map<string, number>();
  for (const x of live) weight.set(x.publicKey, (weight.get(x.publicKey) ?? 0) + x.weight);
  assert.equal(weight.size, live.length, `a public key appears twice among the live keys after ${JSON.stringify(after)}`);
  for (const w of weight.values()) assert.ok(w < FULL_WEIGHT, `one key holds weight ${w} after ${JSON.stringify(after)}`);
}

test('property: after any sequence of join, add, revoke and recover, no live key appears twice and none weighs 1000', async () => {
  let accounts = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 10 }), async (ops) => {
      const { address } = await svc.createAccount({ email: EMAIL, device: pool[0]!.publicKey }, { device_name: 'phone', recovery_public_key: pool[1]!.publicKey });
      accounts++;
      for (const [i, o] of ops.entries()) {
        try {
          await step(address, o);
        } catch (e) {
          // Refusals are the service doing its job; anything else is a bug.
          if (!(e instanceof LatchError)) throw e;
        }
        await assertInvariant(address, ops.slice(0, i + 1));
      }
    }),
    { numRuns: 200 },
  );
  assert.equal(accounts >= 200, true);
});

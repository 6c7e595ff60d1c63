/**
 * Custody benchmark (docs/CUSTODY.md): co-sign latency (p50, p99) and throughput at 1, 16
 * and 64 concurrent clients, and account creation rate, over real HTTP to an in-process
 * `latch server` (relay + custody + embedded SQLite ledger) on loopback; then the same at 16
 * and 64 clients with custody on PostgreSQL (issue 10, a private server started for the run),
 * and the ratio of the two, in the same run. Each figure is
 * printed beside one bare P-256 sign+verify measured in the same run, the floor of a co-sign
 * (the server verifies the device's signature and makes its own).
 *
 * Each client has its own account, so sequence numbers never collide; the client keeps its
 * sequence number itself and measures only the co-sign request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/server/start-server.js';
import { parseTrustedProxies } from '../src/util/client-address.js';
import { CustodyClient } from '../src/sdk/custody-client.js';
import { deviceSigner, newDeviceKey, type CustodySigner } from '../src/authenticator/custody-device-key.js';
import { templateTransaction } from '../src/ledger/flow/cadence-templates.js';
import { envelopeMessage, normalizeTransaction } from '../src/ledger/flow/flow-transaction.js';
import { bytesToHex } from '../src/ledger/flow/flow-hex.js';
import { generateFlowPrivateKey, flowPublicKeyFromPrivate } from '../src/ledger/flow/flow-signer.js';
import { nodeEcdsa } from '../src/ledger/flow/flow-ecdsa-node.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../src/ledger/flow/flow-account-key.js';
import type { CustodyServerOptions } from '../src/custody/open-custody.js';
import { startPrivatePostgres } from '../test/helpers/private-postgres.js';

const PER_CLIENT = { 1: 200, 16: 20, 64: 6 } as const;
type Concurrency = keyof typeof PER_CLIENT;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}
const ms = (x: number): string => `${x.toFixed(2)} ms`;

function bareSignVerify(): number {
  const sk = generateFlowPrivateKey(SIGN_ALGO_ECDSA_P256);
  const pk = flowPublicKeyFromPrivate(sk, SIGN_ALGO_ECDSA_P256);
  const msg = new Uint8Array(300).fill(7);
  const n = 300;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    msg[0] = i & 255;
    const s = nodeEcdsa.sign(msg, sk, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256);
    if (!nodeEcdsa.verify(msg, s, pk, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256)) throw new Error('verify failed');
  }
  return (performance.now() - t) / n;
}

interface BenchAccount {
  client: CustodyClient;
  signer: CustodySigner;
  address: string;
  seq: number;
  ref: string;
}

/** One store's run: the co-sign figures per concurrency level, for the comparison. */
interface CosignFigure {
  p50: number;
  p99: number;
  perSecond: number;
}

/**
 * An in-process server on a fresh data dir with custody on `store` ({} = the embedded SQLite;
 * the PostgreSQL option otherwise), 64 accounts made, then co-signs at each of `levels`.
 */
async function benchStore(label: string, store: Partial<CustodyServerOptions>, levels: readonly Concurrency[], bare: number): Promise<{ lines: string[]; figures: Map<Concurrency, CosignFigure> }> {
  const dir = mkdtempSync(join(tmpdir(), 'latch-custody-bench-'));
  const codes = new Map<string, string>();
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir: dir,
    rateLimit: false,
    // The bench plays 64 clients from one process. The custody API limits logins and requests
    // per client address (issue 15 §3), so each client says where it is from through
    // X-Forwarded-For, believed from loopback as from a trusted proxy: 64 clients, 64 addresses.
    trustedProxies: parseTrustedProxies(['127.0.0.1']),
    custody: {
      recoveryDelaySeconds: 0,
      maxPerTransaction: '1000.0',
      dailyLimit: '100000000.0',
      mailer: { send: async (email, _s, body) => void codes.set(email, body) },
      ...store,
    },
  });
  try {
    const lines: string[] = [];
    const figures = new Map<Concurrency, CosignFigure>();
    // Account creation: login (code + device signature) and create, one after another.
    const accounts: BenchAccount[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 64; i++) {
      const signer = deviceSigner(newDeviceKey());
      const from = `10.0.${i >> 8}.${(i & 255) + 1}`;
      const client = new CustodyClient({
        server: server.url,
        fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), 'x-forwarded-for': from } }),
      });
      const email = `bench${i}@example.com`;
      const { challenge } = await client.loginStart(email);
      await client.loginComplete(email, codes.get(email)!, challenge, signer);
      const { address } = await client.createAccount({ deviceName: `bench ${i}` });
      accounts.push({ client, signer, address, seq: 0, ref: '' });
    }
    const createMs = (performance.now() - t0) / 64;
    lines.push(`custody ${label}: account creation (login + create, sequential): ${ms(createMs)} each, ${(1000 / createMs).toFixed(1)}/s  (= ${(createMs / bare).toFixed(0)}x a bare sign+verify)`);
    const to = accounts[0]!.address;

    for (const concurrency of levels) {
      const clients = accounts.slice(0, concurrency);
      for (const a of clients) {
        const v = await a.client.getAccount(a.address);
        a.seq = Number(v.keys[0]!.sequence_number);
        a.ref = v.reference_block_id;
      }
      const lat: number[] = [];
      const start = performance.now();
      await Promise.all(
        clients.map(async (a) => {
          for (let i = 0; i < PER_CLIENT[concurrency]; i++) {
            let tx = templateTransaction({
              network: 'emulator',
              call: { kind: 'transfer', amount: '0.00000001', to: a.address === to ? accounts[1]!.address : to },
              referenceBlockId: a.ref,
              proposalKey: { address: a.address, keyIndex: 0, sequenceNumber: a.seq },
              payer: a.address,
              authorizer: a.address,
            });
            const sig = await a.signer.sign(envelopeMessage(tx));
            tx = normalizeTransaction({ ...tx, envelopeSignatures: [{ address: a.address, keyIndex: 0, signature: bytesToHex(sig) }] });
            const t = performance.now();
            await a.client.cosignTransaction(a.address, tx);
            lat.push(performance.now() - t);
            a.seq++;
          }
        }),
      );
      const total = performance.now() - start;
      lat.sort((x, y) => x - y);
      const f = { p50: pct(lat, 50), p99: pct(lat, 99), perSecond: (lat.length * 1000) / total };
      figures.set(concurrency, f);
      lines.push(
        `custody ${label}: co-sign x${concurrency} clients: p50 ${ms(f.p50)}, p99 ${ms(f.p99)}, ${f.perSecond.toFixed(0)} req/s  (p50 = ${(f.p50 / bare).toFixed(1)}x a bare sign+verify ${ms(bare)})`,
      );
    }
    return { lines, figures };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}


export async function custodyBench(): Promise<string[]> {
  const bare = bareSignVerify();
  const lines: string[] = [`custody: bare P-256 sign+verify, node:crypto as the server uses (same run): ${ms(bare)}`];
  const sqlite = await benchStore('embedded SQLite', {}, [1, 16, 64], bare);
  lines.push(...sqlite.lines);

  // PostgreSQL of the bench's own (fsync on, trust auth, on loopback, sharing the 2 cores): a fresh
  // database each run, and nothing written to the machine's 5432.
  const pg = await startPrivatePostgres();
  try {
    const onPg = await benchStore('PostgreSQL', { custodyDb: pg.url }, [16, 64], bare);
    // Whatever went wrong in the server's setup, SQLite's figures must never be printed under
    // PostgreSQL's name: it must have written its tables there.
    const tables = Number(await pg.query("SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"));
    if (tables === 0) {
      lines.push('custody PostgreSQL: NOT MEASURED: the server wrote no table to PostgreSQL (custody stayed in SQLite?), so none of its figures are printed as PostgreSQL figures');
      return lines;
    }
    lines.push(...onPg.lines);
    for (const c of [16, 64] as const) {
      const a = sqlite.figures.get(c)!;
      const b = onPg.figures.get(c)!;
      lines.push(
        `custody: co-sign x${c} clients, PostgreSQL against SQLite: ${b.perSecond.toFixed(0)} vs ${a.perSecond.toFixed(0)} req/s = ${(b.perSecond / a.perSecond).toFixed(2)}x; ` +
          `p50 ${ms(b.p50)} vs ${ms(a.p50)} (${(b.p50 / a.p50).toFixed(2)}x), p99 ${ms(b.p99)} vs ${ms(a.p99)} (${(b.p99 / a.p99).toFixed(2)}x)`,
      );
    }
    return lines;
  } finally {
    await pg.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await custodyBench()) console.log(line);
}

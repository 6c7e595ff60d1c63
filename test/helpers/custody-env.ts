/** Custody test helpers: log in through the SDK or the CLI against a real `latch server`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustodyClient } from '../../src/sdk/custody-client.js';
import { deviceSigner, newDeviceKey, type CustodySigner } from '../../src/authenticator/custody-device-key.js';
import { latchRun, newAuthenticator, type LatchServer } from './latch-process.js';
import { newCustodyInbox } from '../../src/authenticator/custody-inbox.js';
import { sodiumReady } from '../../src/protocol/sodium.js';
import { newRecoveryKey } from '../../src/authenticator/custody-recovery-kit.js';
import { signFlowMessage } from '../../src/ledger/flow/flow-signer.js';
import { HASH_ALGO_SHA2_256, SIGN_ALGO_ECDSA_P256 } from '../../src/ledger/flow/flow-account-key.js';

export const RECOVERY_PASSPHRASE = 'recovery passphrase for tests';

/**
 * The server counts the daily limit per UTC day (custody-service.ts, dayOf). A test that spends
 * and then expects a refusal fails by chance if midnight UTC falls between the two, so it first
 * waits out the last `ms` of a day (the server shares this machine's clock).
 */
export async function awayFromUtcMidnight(ms = 120_000): Promise<void> {
  const left = 86_400_000 - (Date.now() % 86_400_000);
  if (left < ms) await new Promise((r) => setTimeout(r, left + 1_000));
}

export function outboxCode(dataDir: string, email: string): string {
  const text = readFileSync(join(dataDir, 'outbox', `${email}.txt`), 'utf8').trim().split('\n');
  return text[text.length - 1]!;
}

/** An SDK client logged in with a fresh device key (no account yet), or with `signer` (any P-256 key: an attacker's choice). */
export async function sdkLogin(server: LatchServer, email: string, signer: CustodySigner = deviceSigner(newDeviceKey())): Promise<{ client: CustodyClient; signer: CustodySigner }> {
  const client = new CustodyClient({ server: server.url });
  const { challenge } = await client.loginStart(email);
  await client.loginComplete(email, outboxCode(server.dataDir, email), challenge, signer);
  return { client, signer };
}

/** A fresh authenticator home logged in (CLI) as `email`. */
export async function cliLogin(server: LatchServer, name: string, email: string): Promise<string> {
  const home = await newAuthenticator(name);
  const a = await latchRun(['login', '--email', email, '--server', server.url], { home });
  if (a.code !== 0) throw new Error(`login failed: ${a.stderr}`);
  const b = await latchRun(['login', '--email', email, '--code', outboxCode(server.dataDir, email), '--json'], { home });
  if (b.code !== 0) throw new Error(`login --code failed: ${b.stderr}`);
  return home;
}

export function json<T = Record<string, unknown>>(r: { code: number | null; stdout: string; stderr: string }): T {
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A raw custody API call, as an attacker (or a client without the SDK) makes it. */
export async function custodyCall(server: { url: string }, method: 'GET' | 'POST', path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> & { error?: { code: string; message: string } } }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${server.url}/custody/v1${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

/**
 * A second device of the account `o` holds as key 0 joins through the SDK (the first device
 * approves) and registers its notice inbox on the server's relay.
 */
export async function joinSecondDevice(server: LatchServer, o: { client: CustodyClient; signer: CustodySigner; address: string; email: string }, name: string): Promise<{ client: CustodyClient; signer: CustodySigner }> {
  const second = await sdkLogin(server, o.email);
  const { join_id } = await second.client.join(o.address, name);
  await o.client.approveJoin({ joinId: join_id, address: o.address, newDevicePublicKey: second.signer.publicKey, device: { keyIndex: 0, signer: o.signer } });
  await second.client.waitForJoin(join_id, { pollMs: 50 });
  await second.client.registerInbox(o.address, newCustodyInbox(await sodiumReady(), server.url).wire, second.signer);
  return second;
}

/** A fresh recovery key as a signer (what a kit holds), for tests that add or use one. */
export function recoverySigner(): CustodySigner {
  const rk = newRecoveryKey();
  return { publicKey: rk.publicKey, sign: async (m) => signFlowMessage(m, rk.secret, SIGN_ALGO_ECDSA_P256, HASH_ALGO_SHA2_256) };
}

/** An SDK-made account of `email`: one device (key 0), the server's key (1) and a recovery key (2). */
export async function sdkOwner(server: LatchServer, email: string): Promise<{ client: CustodyClient; signer: CustodySigner; recovery: CustodySigner; address: string; email: string }> {
  const a = await sdkLogin(server, email);
  const recovery = recoverySigner();
  return { ...a, recovery, email, address: (await a.client.createAccount({ deviceName: 'phone', recoveryPublicKey: recovery.publicKey })).address };
}

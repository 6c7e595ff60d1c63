/** Custody test helpers: log in through the SDK or the CLI against a real `latch server`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustodyClient } from '../../src/sdk/custody-client.js';
import { deviceSigner, newDeviceKey, type CustodySigner } from '../../src/authenticator/custody-device-key.js';
import { latchRun, newAuthenticator, type LatchServer } from './latch-process.js';

export const RECOVERY_PASSPHRASE = 'recovery passphrase for tests';

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

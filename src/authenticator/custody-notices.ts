/**
 * `latch device run`, custody side: waits on the custody inbox this device registered with the
 * server and handles the server's boxed notices (crypto_box from the server's X25519 key):
 *   - custody-join: shows the new device's name, where the request came from and the time
 *     left; on approval builds the add-key transaction itself from the new device's public
 *     key and signs it (the server only learns the signature), then the server co-signs.
 *   - custody-recovery: tells the user a recovery is under way and how to cancel it.
 * A message is acknowledged only after it was handled, like the pairing inboxes.
 */
import { decodeBase64url } from '../protocol/base64url.js';
import { openBoxedMessage } from '../protocol/envelope.js';
import type { Sodium } from '../protocol/sodium.js';
import type { RelayClient } from '../transport/relay-client.js';
import { CustodyClient } from '../sdk/custody-client.js';
import type { DeviceNotice } from '../custody/custody-api.js';
import { deviceSigner } from './custody-device-key.js';
import { fromRestTransaction } from '../ledger/flow/flow-rest-shape.js';
import { normalizeTransaction } from '../ledger/flow/flow-transaction.js';
import { findTemplate, parseTemplateCall } from '../ledger/flow/cadence-templates.js';
import type { Keystore } from './keystore.js';

/** Asks the user (or auto-approves) a yes/no question with a deadline. */
export type JoinDecider = (question: string, secondsLeft: number) => Promise<boolean>;

export function parseNotice(bytes: Uint8Array): DeviceNotice {
  const n = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as DeviceNotice;
  if (n?.type === 'custody-join') {
    if (typeof n.join_id !== 'string' || typeof n.account !== 'string' || typeof n.device_name !== 'string' || !/^[0-9a-f]{128}$/.test(String(n.device_public_key)) || typeof n.expires_at !== 'number' || typeof n.origin !== 'string') throw new Error('bad join notice');
    return n;
  }
  if (n?.type === 'custody-sign' && typeof n.request_id === 'string' && typeof n.account === 'string' && typeof n.expires_at === 'number' && n.transaction !== null && typeof n.transaction === 'object') return n;
  if (n?.type === 'custody-recovery' && typeof n.recovery_id === 'string' && typeof n.ready_at === 'number') return n;
  throw new Error('unknown notice');
}

export async function custodyInboxLoop(opts: {
  sodium: Sodium;
  keystore: Keystore;
  relayFor: (url: string) => RelayClient;
  log: (line: string) => void;
  decide: JoinDecider;
  signal: AbortSignal;
}): Promise<void> {
  const { sodium, keystore, log } = opts;
  // An account created (or joined) while `device run` is already running: wait for it. The
  // runner's watcher re-reads the keystore every poll, so the state here stays current.
  const ready = (): boolean => {
    const x = keystore.state.custody;
    return !!(x?.inbox && x.account && x.keyIndex !== undefined && x.serverBoxPublicKey);
  };
  while (!ready()) {
    if (opts.signal.aborted) return;
    // Never reload here: the runner's watcher must see each change itself to restart on new pairings.
    await new Promise((r) => setTimeout(r, 500));
  }
  const c = keystore.state.custody!;
  if (!c.inbox || !c.serverBoxPublicKey) return;
  const inbox = c.inbox;
  const relay = opts.relayFor(inbox.relayUrl);
  const queue = { publicKey: decodeBase64url(inbox.queuePublicKey), secretKey: decodeBase64url(inbox.queueSecretKey) };
  log(`custody: listening for join and recovery requests of account ${c.account}`);
  try {
    for await (const { message } of relay.inboxes([queue], { signal: opts.signal })) {
      try {
        const notice = parseNotice(openBoxedMessage(sodium, message.body, decodeBase64url(c.serverBoxPublicKey), decodeBase64url(inbox.boxSecretKey)));
        await handle(notice);
      } catch (e) {
        log(`custody: ignored a notice: ${(e as Error).message}`);
      }
      await relay.ack(queue, [message.id]).catch((e: Error) => log(`custody: ack failed: ${e.message}`));
    }
  } catch (e) {
    if (!opts.signal.aborted) log(`custody: inbox stopped: ${(e as Error).message}`);
  }

  async function handle(n: DeviceNotice): Promise<void> {
    const cur = keystore.state.custody!;
    const client = new CustodyClient({ server: n.server_url === cur.server ? cur.server : cur.server, ...(cur.refreshToken ? { refreshToken: cur.refreshToken } : {}) });
    if (n.type === 'custody-recovery') {
      log(`custody: RECOVERY of account ${n.account} started by a new device "${n.device_name}"; it completes at ${new Date(n.ready_at * 1000).toISOString()}. ` +
        `If this was not you, cancel it: latch account recover --cancel ${n.recovery_id}`);
      return;
    }
    if (n.type === 'custody-sign') {
      const left = n.expires_at - Math.floor(Date.now() / 1000);
      // Show what the transaction does, decoded from the transaction itself (not from the server's words).
      const tx = normalizeTransaction(fromRestTransaction(n.transaction));
      if (tx.payer !== cur.account || tx.authorizers.length !== 1 || tx.authorizers[0] !== cur.account) {
        log('custody: a signature request for another account; ignored');
        return;
      }
      // Only Latch's own templates are ever signed; which network's they are does not matter here.
      const network = (['emulator', 'testnet', 'mainnet'] as const).find((nw) => findTemplate(nw, tx.script) !== undefined);
      if (!network) {
        log('custody: a signature request for a script that is not a Latch template; refused');
        await client.denySignRequest(n.request_id).catch(() => undefined);
        return;
      }
      const call = parseTemplateCall(network, tx.script, tx.arguments);
      const what = call.kind === 'transfer' ? `transfer ${call.amount} FLOW to ${call.to}` : call.kind === 'revoke-key' ? `revoke key ${call.keyIndex}` : `add key ${call.key.publicKey.slice(0, 16)}...`;
      log(`custody: signature request from "${n.device_name}" for account ${n.account}: ${what}, ${Math.max(0, left)} s left`);
      if (left <= 0) return;
      if (!(await opts.decide(`Sign for account ${n.account}: ${what} (asked by "${n.device_name}")?`, left))) {
        await client.denySignRequest(n.request_id).catch(() => undefined);
        log('custody: signature request denied; nothing changes');
        return;
      }
      const out = await client.approveSignRequest({ requestId: n.request_id, transaction: n.transaction, device: { keyIndex: cur.keyIndex!, signer: deviceSigner(cur) } });
      log(`custody: signed; transaction ${out.id}`);
      return;
    }
    const left = n.expires_at - Math.floor(Date.now() / 1000);
    log(`custody: join request for account ${n.account}: device "${n.device_name}" from ${n.origin}, ${Math.max(0, left)} s left`);
    if (left <= 0) {
      log('custody: the join request has expired; nothing changes');
      return;
    }
    if (n.account !== cur.account) {
      log('custody: the join request is for another account; ignored');
      return;
    }
    if (!(await opts.decide(`Add device "${n.device_name}" (${n.origin}) to account ${n.account}?`, left))) {
      await client.denyJoin(n.join_id).catch(() => undefined);
      log('custody: join denied; nothing changes');
      return;
    }
    const out = await client.approveJoin({
      joinId: n.join_id,
      address: cur.account!,
      newDevicePublicKey: n.device_public_key,
      device: { keyIndex: cur.keyIndex!, signer: deviceSigner(cur) },
    });
    log(`custody: join approved; "${n.device_name}" is key ${out.key_index} (transaction ${out.id})`);
  }
}

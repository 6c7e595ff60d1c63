/**
 * The custody notice inbox while the page is open (docs/CUSTODY.md "Join"): the same handling
 * as `latch device run` (custody-notice-core.ts), with the page's questions (request cards,
 * passed in by the page so this module stays free of the DOM) and every outcome written to
 * the history. Queued notices are caught up on when the page opens (the relay keeps them until
 * acked). Browser-only.
 */
import type { Sodium } from '../protocol/sodium.js';
import { RelayClient } from '../transport/relay-client.js';
import { reregisterInbox } from '../authenticator/custody-inbox.js';
import { handleNotice, keyRevokedTitle, recoveryTitle, serveCustodyInbox, type JoinNotice, type KeyRevokedNotice, type NoticeAnswer, type NoticeOutcome, type RecoveryNotice, type SignNotice } from '../authenticator/custody-notice-core.js';
import { custodyClient, custodySigner, saveCustody } from './web-custody.js';
import { addHistory } from './web-history.js';
import type { WebStore } from './web-store.js';

export type { JoinNotice, KeyRevokedNotice, NoticeAnswer, RecoveryNotice, SignNotice } from '../authenticator/custody-notice-core.js';

/** The card's headline for a join, also the history's title. */
export function joinTitle(n: JoinNotice): string {
  return `Add device "${n.device_name}" to your account`;
}

function historyOf(o: NoticeOutcome): { kind: string; title: string; from: string; outcome: string } {
  const n = o.notice;
  const outcome = o.outcome === 'approved' ? 'approved once' : o.outcome === 'failed' ? `failed: ${o.detail}` : o.outcome === 'shown' ? 'warning shown' : o.outcome;
  if (n.type === 'custody-join') return { kind: 'join', title: joinTitle(n), from: n.origin, outcome };
  if (n.type === 'custody-sign') return { kind: 'custody-sign', title: `Sign for your account: ${o.detail}`, from: n.device_name, outcome };
  if (n.type === 'custody-key-revoked') return { kind: 'custody-revoked', title: keyRevokedTitle(n), from: n.device_name, outcome };
  return { kind: 'custody-recovery', title: recoveryTitle(n), from: n.device_name, outcome };
}

/**
 * Serve the custody inbox until `signal` aborts; returns at once when this browser holds no
 * account yet (the page starts it again after creating one).
 */
export async function serveCustodyNotices(opts: {
  sodium: Sodium;
  store: WebStore;
  log: (line: string) => void;
  signal: AbortSignal;
  askJoin(n: JoinNotice, signal: AbortSignal): Promise<NoticeAnswer>;
  askSign(n: SignNotice, what: string, signal: AbortSignal): Promise<NoticeAnswer>;
  onChange?: () => void;
  /** A recovery of the account started: say so wherever the user is. */
  onRecovery?: (n: RecoveryNotice) => void;
  /** A key of the account was revoked (`text`: what the notice says to this device). */
  onRevoked?: (n: KeyRevokedNotice, text: string) => void;
}): Promise<boolean> {
  const { store, log } = opts;
  const c = await store.get('custody');
  if (!c?.account || c.keyIndex === undefined || !c.inbox || !c.serverBoxPublicKey || !c.refreshToken) return false;
  await reregisterInbox({ sodium: opts.sodium, client: custodyClient(store, c), account: c.account, inbox: c.inbox, signer: custodySigner(c), log });
  log(`custody: listening for join and recovery requests of account ${c.account}`);
  await serveCustodyInbox({
    sodium: opts.sodium,
    relay: new RelayClient({ url: c.inbox.relayUrl }),
    inbox: c.inbox,
    serverBoxPublicKey: c.serverBoxPublicKey,
    signal: opts.signal,
    log,
    handle: async (n) => {
      // Re-read: the refresh token may have been renewed since the loop started.
      const cur = (await store.get('custody')) ?? c;
      await handleNotice(n, {
        client: custodyClient(store, cur),
        account: cur.account!,
        keyIndex: cur.keyIndex!,
        signer: custodySigner(cur),
        log,
        askJoin: (j) => opts.askJoin(j, opts.signal),
        askSign: (s, what) => opts.askSign(s, what, opts.signal),
        showRecovery: async (r: RecoveryNotice) => {
          await saveCustody(store, (x) => {
            x.recoveries = [...(x.recoveries ?? []).filter((y) => y.id !== r.recovery_id), { id: r.recovery_id, account: r.account, deviceName: r.device_name, readyAt: r.ready_at }];
          });
          opts.onRecovery?.(r);
        },
        showRevoked: (r, text) => opts.onRevoked?.(r, text),
        outcome: async (o) => {
          // A card withdrawn because the page stopped serving is not an outcome: it comes back.
          if (opts.signal.aborted && o.outcome === 'expired') return;
          await addHistory(store, { at: Math.floor(Date.now() / 1000), ...historyOf(o) });
          opts.onChange?.();
        },
      });
    },
  });
  return true;
}

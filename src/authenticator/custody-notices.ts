/**
 * `latch device run`, custody side: waits on the custody inbox this device registered with the
 * server and handles the server's boxed notices (crypto_box from the server's X25519 key). The
 * handling itself (what is shown, what is signed) is custody-notice-core.ts, shared with the
 * web authenticator; this file adds the Node keystore and the yes/no question.
 */
import type { Sodium } from '../protocol/sodium.js';
import type { RelayClient } from '../transport/relay-client.js';
import { CustodyClient } from '../sdk/custody-client.js';
import { deviceSigner } from './custody-device-key.js';
import { handleNotice, joinQuestion, serveCustodyInbox } from './custody-notice-core.js';
import { reregisterInbox } from './custody-inbox.js';
import { keystoreTokenStore } from './custody-token-store.js';
import type { Keystore } from './keystore.js';

export { parseNotice } from './custody-notice-core.js';

/** Asks the user (or auto-approves) a yes/no question with a deadline. */
export type JoinDecider = (question: string, secondsLeft: number) => Promise<boolean>;

export async function custodyInboxLoop(opts: {
  sodium: Sodium;
  keystore: Keystore;
  relayFor: (url: string) => RelayClient;
  log: (line: string) => void;
  decide: JoinDecider;
  signal: AbortSignal;
}): Promise<void> {
  const { keystore, log } = opts;
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
  // One token store for every client here: refresh tokens are single-use and shared with the CLI.
  const tokenStore = keystoreTokenStore(keystore);
  await reregisterInbox({ sodium: opts.sodium, client: new CustodyClient({ server: c.server, tokenStore }), account: c.account!, inbox: c.inbox, signer: deviceSigner(c), log });
  log(`custody: listening for join and recovery requests of account ${c.account}`);
  const yesNo = async (question: string, left: number) => ((await opts.decide(question, left)) ? 'approve' : 'deny') as 'approve' | 'deny';
  await serveCustodyInbox({
    sodium: opts.sodium,
    relay: opts.relayFor(c.inbox.relayUrl),
    inbox: c.inbox,
    serverBoxPublicKey: c.serverBoxPublicKey,
    signal: opts.signal,
    log,
    handle: async (n) => {
      const cur = keystore.state.custody!;
      await handleNotice(n, {
        client: new CustodyClient({ server: cur.server, tokenStore }),
        account: cur.account!,
        keyIndex: cur.keyIndex!,
        signer: deviceSigner(cur),
        log,
        askJoin: (j, left) => yesNo(joinQuestion(j), left),
        askSign: (s, what, left) => yesNo(`Sign for account ${s.account}: ${what} (asked by "${s.device_name}")?`, left),
      });
    },
  });
}

/**
 * `latch device pair`: the shared pairing steps (pairing-steps.ts) with the encrypted keystore
 * as the place the pairing is stored, and the Node request handler answering the hello.
 */
import type { PairingLink } from '../protocol/pairing-link.js';
import type { Sodium } from '../protocol/sodium.js';
import type { RelayClient } from '../transport/relay-client.js';
import type { Keystore } from './keystore.js';
import type { StoredPairing } from './authenticator-state.js';
import { RequestHandler, type Log } from './request-handler.js';
import { pairAsAuthenticator } from './pairing-steps.js';

export { PAIRING_TAKEN_MESSAGE } from './pairing-steps.js';

export function pairWithComputer(opts: {
  sodium: Sodium;
  keystore: Keystore;
  link: PairingLink;
  relay: RelayClient;
  timeoutSeconds: number;
  log: Log;
  onCheckCode: (code: string) => void;
}): Promise<StoredPairing> {
  const { sodium, keystore, log } = opts;
  return pairAsAuthenticator({
    ...opts,
    adopt: async (pairing, hello, send) => {
      await keystore.update((s) => {
        s.pairings.push(pairing);
      });
      await new RequestHandler(sodium, keystore, log).handle(pairing, hello, send);
    },
  });
}

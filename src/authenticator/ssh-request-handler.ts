/**
 * `latch device`'s side of `ssh_sign` and `sign_message` (issue 3): the shared review and
 * policy core (ssh-sign-core.ts) over the encrypted keystore file, signing with the stored
 * keys (ssh-signer.ts). Node only (the keystore); the web authenticator has its own adapter
 * over IndexedDB and WebCrypto (src/web/web-ssh-store.ts).
 */
import type { Sodium } from '../protocol/sodium.js';
import type { SshSignBody, SignMessageBody, SignResult } from '../protocol/messages.js';
import type { Keystore } from './keystore.js';
import type { StoredPairing, StoredSshKey } from './authenticator-state.js';
import { signSshData } from './ssh-signer.js';
import { grantPolicy } from './policy-book.js';
import { SshSignCore } from './ssh-sign-core.js';
import type { Approver } from './sign-review.js';
import type { RequestTiming } from './request-core.js';

export { pinName } from './ssh-sign-core.js';

export class SshRequestHandler {
  readonly #core: SshSignCore<StoredSshKey>;

  constructor(sodium: Sodium, keystore: Keystore, approver: Approver, log: (line: string) => void, clock: () => number) {
    this.#core = new SshSignCore<StoredSshKey>({
      approver,
      log,
      clock,
      store: {
        snapshot: async () => {
          keystore.reloadIfChanged(); // see revocations and opt-ins made by other processes
          const s = keystore.state;
          return { keys: s.sshKeys, pinnedHosts: s.pinnedHosts ?? [], policies: s.policies ?? [], allowUnverifiedFor: s.allowUnverifiedFor ?? [] };
        },
        pinHost: (host) =>
          keystore.update((s) => {
            s.pinnedHosts = [...(s.pinnedHosts ?? []).filter((x) => x.name !== host.name), host];
          }),
        grantPolicy: (policy, now) => keystore.update((s) => grantPolicy(s, policy, now)),
        sign: async (key, data) => signSshData(sodium, key, data).signature,
      },
    });
  }

  sshSign(pairing: StoredPairing, body: SshSignBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<SignResult> {
    return this.#core.sshSign(pairing, body, ack, timing);
  }

  signMessage(pairing: StoredPairing, body: SignMessageBody, ack: () => Promise<void>, timing?: RequestTiming): Promise<SignResult> {
    return this.#core.signMessage(pairing, body, ack, timing);
  }
}

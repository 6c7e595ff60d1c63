/**
 * The web authenticator's storage and signing for the shared SSH/Git review core
 * (src/authenticator/ssh-sign-core.ts): keys from the device record, pins, policies and
 * opt-ins from their IndexedDB records (web-store.ts), each change one atomic `transact`;
 * signatures by WebCrypto (web-ssh-signer.ts). Browser-only.
 */
import { grantPolicy } from '../authenticator/policy-book.js';
import type { SshSignStore } from '../authenticator/ssh-sign-core.js';
import { webSignSshData } from './web-ssh-signer.js';
import type { WebSshKey, WebStore } from './web-store.js';

export function webSshSignStore(store: WebStore): SshSignStore<WebSshKey> {
  return {
    snapshot: async () => {
      const [device, pinnedHosts, policies, allowUnverifiedFor] = await Promise.all([store.get('device'), store.get('pinnedHosts'), store.get('policies'), store.get('allowUnverifiedFor')]);
      return { keys: device?.sshKeys ?? [], pinnedHosts: pinnedHosts ?? [], policies: policies ?? [], allowUnverifiedFor: allowUnverifiedFor ?? [] };
    },
    pinHost: (host) => store.transact('pinnedHosts', (list) => ({ write: [...(list ?? []).filter((x) => x.name !== host.name), host], value: undefined })),
    grantPolicy: (policy, now) =>
      store.transact('policies', (list) => {
        const holder = { policies: list ?? [] };
        grantPolicy(holder, policy, now);
        return { write: holder.policies, value: undefined };
      }),
    sign: (key, data) => webSignSshData(key, data),
  };
}

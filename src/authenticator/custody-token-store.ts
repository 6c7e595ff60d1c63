/**
 * The CLI's refresh token lives in the keystore and is shared by every `latch` command and
 * `latch device run` of one LATCH_HOME. Refresh tokens are single-use (docs/CUSTODY.md
 * "Tokens"), so each exchange runs under the keystore lock against the token on disk and
 * writes the new one before the lock is released: two processes never spend the same token.
 */
import { LatchError } from '../util/latch-error.js';
import type { RefreshTokenStore } from '../sdk/custody-client.js';
import type { Keystore } from './keystore.js';

export function keystoreTokenStore(keystore: Keystore): RefreshTokenStore {
  return {
    rotate: (exchange) =>
      keystore.updateAsync(async (s) => {
        const token = s.custody?.refreshToken;
        if (token === undefined) throw new LatchError('not_logged_in', 'not logged in: run `latch login --email EMAIL`');
        const t = await exchange(token);
        s.custody!.refreshToken = t.refresh_token;
        return t;
      }),
  };
}

/**
 * What every `latch device …` and `latch account …` command does first: ask for the
 * authenticator's passphrase (LATCH_PASSPHRASE, or the terminal) and open the keystore with it.
 */
import { Keystore } from '../authenticator/keystore.js';
import type { Sodium } from '../protocol/sodium.js';
import { readPassphrase } from '../util/passphrase.js';

export async function openKeystore(sodium: Sodium, keystoreFile: string): Promise<Keystore> {
  const passphrase = await readPassphrase({ envVar: 'LATCH_PASSPHRASE', prompt: 'Authenticator passphrase: ' });
  return Keystore.open(sodium, keystoreFile, passphrase);
}

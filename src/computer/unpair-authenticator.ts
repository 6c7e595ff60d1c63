/**
 * Asking the paired authenticator to forget this computer (PROTOCOL.md §5.6 `unpair`). Used by
 * `latch unpair`, and by `latch pair` when a new pairing replaces an old one, so the old
 * authenticator does not keep a pairing (and its timed approvals) for a computer that is gone.
 */
import type { Sodium } from '../protocol/sodium.js';
import { RelayClient } from '../transport/relay-client.js';
import { AuthenticatorClient } from './authenticator-client.js';
import type { ComputerPairing } from './computer-state.js';

export type UnpairOutcome = { answered: true } | { answered: false; reason: string };

export async function requestUnpair(sodium: Sodium, pairing: ComputerPairing, timeoutSeconds: number): Promise<UnpairOutcome> {
  const client = new AuthenticatorClient(sodium, new RelayClient({ url: pairing.relayUrl }), pairing, () => undefined);
  try {
    await client.request({ kind: 'unpair' }, { timeoutSeconds });
    return { answered: true };
  } catch (e) {
    return { answered: false, reason: e instanceof Error ? e.message : String(e) };
  } finally {
    client.close();
  }
}

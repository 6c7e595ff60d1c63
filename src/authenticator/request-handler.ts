/**
 * `latch device`'s side of PROTOCOL.md §5 over the encrypted keystore file: the shared
 * handleRequest (request-core.ts) with the keystore as its store, the process id as the claim
 * marker, and the Node authenticator's actions (device info, unpair, SSH and Git signing).
 * One instance serves all pairings of a keystore.
 */
import { nowSeconds, type DeviceInfo } from '../protocol/messages.js';
import type { Sodium } from '../protocol/sodium.js';
import type { Keystore } from './keystore.js';
import type { AuthenticatorState, ReplayEntry, StoredPairing } from './authenticator-state.js';
import { sshKeyInfo } from './ssh-key-factory.js';
import { SshRequestHandler } from './ssh-request-handler.js';
import { denyAll, type Approver } from './sign-review.js';
import { keystoreWebauthnCore } from './webauthn-request-handler.js';
import type { WebauthnCore } from './webauthn-core.js';
import { ReplayJournal } from './replay-journal.js';
import { BoxKeyCache } from './box-key-cache.js';
import { actOn, handleRequest, keepReplayEntry, type Handled, type Log, type RequestStore, type Send } from './request-core.js';

export type { Log, Send } from './request-core.js';

export function deviceInfo(state: AuthenticatorState): DeviceInfo {
  return { name: state.name, device_id: state.deviceId, ssh_keys: state.sshKeys.map(sshKeyInfo) };
}

export class RequestHandler {
  readonly #ssh: SshRequestHandler;
  readonly #webauthn: WebauthnCore;
  readonly #store: RequestStore;
  readonly #boxKeys: BoxKeyCache;

  constructor(
    private readonly sodium: Sodium,
    private readonly keystore: Keystore,
    private readonly log: Log,
    private readonly clock: () => number = nowSeconds,
    /** Who approves signatures (issue 3); without one every signature is denied. */
    opts: { approver?: Approver } = {},
  ) {
    this.#ssh = new SshRequestHandler(sodium, keystore, opts.approver ?? denyAll, log, clock);
    this.#webauthn = keystoreWebauthnCore(keystore, opts.approver ?? denyAll, log, clock);
    this.#boxKeys = new BoxKeyCache(sodium);
    // Under the keystore lock, against the newest keystore and journal on disk (another
    // process may share them): one authenticated append per claim and per answer (§5.5).
    // Expired entries are left to the next compaction, which drops them.
    const journal = new ReplayJournal(sodium, keystore, clock, log);
    this.#store = {
      claim: (requestId, now, decide) =>
        journal.transact((get) => {
          const entry = get(requestId);
          const { put, claim } = decide(entry !== undefined && keepReplayEntry(entry, now) ? entry : undefined);
          return { value: claim, changed: put === undefined ? [] : [put] };
        }),
      finish: (requestId, update, removePairing, written) =>
        journal.transact((get) => {
          const changed = [update(get(requestId))];
          if (removePairing === undefined) return { value: undefined, changed, written };
          // The answer and the unpair land in one keystore write (the fold).
          return {
            value: undefined,
            changed,
            fold: (s) => {
              // Its timed approvals and opt-in go with it (as `latch device computer remove` does).
              s.pairings = s.pairings.filter((p) => p.id !== removePairing);
              s.policies = (s.policies ?? []).filter((p) => p.pairingId !== removePairing);
              s.allowUnverifiedFor = (s.allowUnverifiedFor ?? []).filter((id) => id !== removePairing);
            },
          };
        }),
    };
  }

  handle(pairing: StoredPairing, envelope: Uint8Array, send: Send): Promise<Handled> {
    return handleRequest(pairing, envelope, send, {
      sodium: this.sodium,
      store: this.#store,
      log: this.log,
      clock: this.clock,
      claimMarker: { pid: process.pid },
      boxKeys: this.#boxKeys,
      // Another live process is on it; our own pid means a duplicate delivery in flight here.
      unfinished: (c: ReplayEntry) => (c.pid !== undefined && (c.pid === process.pid || processAlive(c.pid)) ? 'busy' : 'interrupted'),
      act: (request, ack) =>
        actOn(pairing, request, ack, {
          deviceInfo: () => deviceInfo(this.keystore.state),
          sshSign: (p, b, a, t) => this.#ssh.sshSign(p, b, a, t),
          signMessage: (p, b, a, t) => this.#ssh.signMessage(p, b, a, t),
          webauthnCreate: (p, b, a, t) => this.#webauthn.create(p, b, a, t),
          webauthnGet: (p, b, a, t) => this.#webauthn.get(p, b, a, t),
        }),
    });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

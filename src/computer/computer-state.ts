/**
 * What the computer STORES about its pairing (LATCH_HOME/computer.json, mode 0600). A stored
 * type with secrets in it: never serialised onto the wire. The pairing link is built from it
 * field by field (src/protocol/pairing-link.ts), which is why the two are different types.
 */
import { LatchError } from '../util/latch-error.js';
import { writeFileAtomic, readFileIfExists } from '../util/atomic-file.js';
import { withFileLock } from '../util/file-lock.js';
import type { SshKeyInfo } from '../protocol/messages.js';

export interface ComputerPairing {
  deviceName: string;
  deviceId: string;
  sshKeys: SshKeyInfo[];
  relayUrl: string;
  /** This computer's X25519 keypair for the pairing (base64url). */
  computerPublicKey: string;
  computerSecretKey: string;
  /** Ed25519 keypair owning the computer's inbox queue (base64url). */
  queuePublicKey: string;
  queueSecretKey: string;
  authenticatorPublicKey: string;
  authenticatorQueue: string;
  pairedAt: number;
  lastSeen?: number;
}

export interface ComputerState {
  v: 1;
  pairing?: ComputerPairing;
}

export function loadComputerState(path: string): ComputerState {
  const text = readFileIfExists(path);
  if (text === undefined) return { v: 1 };
  try {
    const s = JSON.parse(text) as ComputerState;
    if (s.v !== 1) throw new Error('version');
    return s;
  } catch {
    throw new LatchError('state_damaged', `${path} is not a Latch computer state file; move it away and pair again`);
  }
}

/**
 * Read-modify-write under a lock against the newest file, so `latch status` or the agent
 * refreshing a cached field can never write back a pairing that `latch pair` just replaced.
 */
export async function updateComputerState<T>(path: string, fn: (state: ComputerState) => T): Promise<T> {
  return withFileLock(`${path}.lock`, () => {
    const state = loadComputerState(path);
    const out = fn(state);
    writeFileAtomic(path, JSON.stringify(state, null, 2) + '\n', 0o600);
    return out;
  }, { what: 'the computer state' });
}

/** The same pairing (not a newer one made since it was read)? */
export function samePairing(a: ComputerPairing | undefined, b: ComputerPairing): a is ComputerPairing {
  return a !== undefined && a.computerPublicKey === b.computerPublicKey;
}

export function requirePairing(state: ComputerState): ComputerPairing {
  if (!state.pairing) throw new LatchError('not_paired', 'this computer is not paired: run `latch pair` and scan the code with your authenticator');
  return state.pairing;
}

/**
 * TEST FAKE. Stands in for the paired authenticator in agent tests by holding in-memory
 * ed25519 and P-256 private keys. Real Latch never does this: the agent holds no private
 * key, the authenticator does. Like the real authenticator it applies the
 * classifySshSignData guard (issue 3, "No cross-protocol signing") before signing.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import type { AgentBackend, AgentIdentity, SignContext } from '../../src/agent/agent-server.js';
import { LatchError } from '../../src/util/latch-error.js';
import { equalBytes as bytesEqual } from '@noble/curves/utils.js';
import { ed25519PublicKeyBlob, p256PublicKeyBlob, formatAuthorizedKeyLine } from '../../src/protocol/ssh/ssh-public-key.js';
import { ed25519SignatureBlob, p256SignatureBlob } from '../../src/protocol/ssh/ssh-signature.js';
import { parseSshSignData, parseSshSignDataForKey, type ParsedSshSignData } from '../../src/protocol/ssh/sign-data-guard.js';
import { armorSshsig, buildSshsigSignedDataForMessage, encodeSshsig } from '../../src/protocol/ssh/sshsig.js';

export type LocalKeyType = 'ed25519' | 'p256';

interface HeldKey {
  type: LocalKeyType;
  secret: Uint8Array;
  blob: Uint8Array;
  comment: string;
}

export interface SeenRequest {
  kind: 'sign' | 'sign-message';
  keyBlob: Uint8Array;
  parsed?: ParsedSshSignData;
  namespace?: string;
  message?: Uint8Array;
  ctx: SignContext;
}

export class LocalKeyBackend implements AgentBackend {
  readonly keys: HeldKey[] = [];
  readonly seen: SeenRequest[] = [];
  /** When false, every request is denied (the user pressed Deny). */
  allow = true;

  constructor(types: LocalKeyType[] = ['ed25519', 'p256']) {
    for (const type of types) {
      if (type === 'ed25519') {
        const secret = ed25519.utils.randomSecretKey();
        this.keys.push({ type, secret, blob: ed25519PublicKeyBlob(ed25519.getPublicKey(secret)), comment: `latch-test-ed25519` });
      } else {
        const secret = p256.utils.randomSecretKey();
        this.keys.push({ type, secret, blob: p256PublicKeyBlob(p256.getPublicKey(secret, false)), comment: `latch-test-p256` });
      }
    }
  }

  authorizedKeyLines(): string[] {
    return this.keys.map((k) => formatAuthorizedKeyLine(k.blob, k.comment));
  }

  keyOf(type: LocalKeyType): HeldKey {
    const k = this.keys.find((x) => x.type === type);
    if (!k) throw new Error(`no ${type} key`);
    return k;
  }

  async listIdentities(): Promise<AgentIdentity[]> {
    return this.keys.map((k) => ({ keyBlob: k.blob, comment: k.comment }));
  }

  private find(keyBlob: Uint8Array): HeldKey {
    const k = this.keys.find((x) => bytesEqual(x.blob, keyBlob));
    if (!k) throw new LatchError('unknown_key', 'no such key');
    return k;
  }

  private rawSign(k: HeldKey, data: Uint8Array): Uint8Array {
    if (k.type === 'ed25519') return ed25519SignatureBlob(ed25519.sign(data, k.secret));
    // noble: prehash with SHA-256 (RFC 5656 §6.2.1 for nistp256), compact r‖s.
    return p256SignatureBlob(p256.sign(data, k.secret));
  }

  async sign(keyBlob: Uint8Array, data: Uint8Array, _flags: number, ctx: SignContext): Promise<Uint8Array> {
    const k = this.find(keyBlob);
    const parsed = parseSshSignDataForKey(keyBlob, data); // throws not_ssh_data for anything else
    this.seen.push({ kind: 'sign', keyBlob, parsed, ctx });
    if (!this.allow) throw new LatchError('denied', 'denied by the user');
    return this.rawSign(k, data);
  }

  async signMessage(keyBlob: Uint8Array, namespace: string, message: Uint8Array, ctx: SignContext): Promise<string> {
    const k = this.find(keyBlob);
    this.seen.push({ kind: 'sign-message', keyBlob, namespace, message, ctx });
    if (!this.allow) throw new LatchError('denied', 'denied by the user');
    const signed = buildSshsigSignedDataForMessage(namespace, message, 'sha512');
    parseSshSignData(signed);
    const signature = this.rawSign(k, signed);
    return armorSshsig(encodeSshsig({ publicKey: k.blob, namespace, hashAlgorithm: 'sha512', signature }));
  }
}

/** Loads the Flow vector files in test/vectors and adapts fcl's voucher form to Latch's. */
import { readFileSync } from 'node:fs';
import type { FlowTransaction } from '../../src/ledger/flow/flow-transaction.js';

export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../../test/vectors/${name}`, import.meta.url), 'utf8')) as T;
}

export interface FclSig {
  address: string;
  keyId: number;
  sig: string;
}
export interface FclTx {
  cadence: string;
  arguments: unknown[];
  refBlock: string | null;
  computeLimit: number;
  proposalKey: { address: string; keyId: number; sequenceNum: number };
  payer: string;
  authorizers: string[];
  payloadSigs: FclSig[];
  envelopeSigs?: FclSig[];
}

const pad = (a: string): string => a.padStart(16, '0');
/** Node's Buffer.from(hex) stops at the last whole byte; the fcl vectors rely on that for "a", "b", "c". */
const bufferHex = (s: string): string => s.slice(0, s.length - (s.length % 2));

export function fromFcl(t: FclTx): FlowTransaction {
  const sig = (s: FclSig) => ({ address: pad(s.address), keyIndex: s.keyId, signature: bufferHex(s.sig) });
  return {
    script: t.cadence,
    arguments: t.arguments.map((a) => JSON.stringify(a)),
    referenceBlockId: (t.refBlock ?? '0').padStart(64, '0'),
    gasLimit: t.computeLimit,
    proposalKey: { address: pad(t.proposalKey.address), keyIndex: t.proposalKey.keyId, sequenceNumber: t.proposalKey.sequenceNum },
    payer: pad(t.payer),
    authorizers: t.authorizers.map(pad),
    payloadSignatures: t.payloadSigs.map(sig),
    envelopeSignatures: (t.envelopeSigs ?? []).map(sig),
  };
}

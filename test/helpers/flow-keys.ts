/** Test keys for Flow accounts: private key plus the account-key fields the ledger stores. */
import { flowPublicKeyFromPrivate, generateFlowPrivateKey, type FlowKeySigner } from '../../src/ledger/flow/flow-signer.js';
import type { FlowHashAlgo, FlowSignAlgo, NewFlowAccountKey } from '../../src/ledger/flow/flow-account-key.js';

export interface TestKey {
  privateKey: Uint8Array;
  account: NewFlowAccountKey;
}

export function testKey(signAlgo: FlowSignAlgo, hashAlgo: FlowHashAlgo, weight: number): TestKey {
  const privateKey = generateFlowPrivateKey(signAlgo);
  return { privateKey, account: { publicKey: flowPublicKeyFromPrivate(privateKey, signAlgo), signAlgo, hashAlgo, weight } };
}

export function signerFor(k: TestKey, address: string, keyIndex: number): FlowKeySigner {
  return { address, keyIndex, privateKey: k.privateKey, signAlgo: k.account.signAlgo, hashAlgo: k.account.hashAlgo };
}

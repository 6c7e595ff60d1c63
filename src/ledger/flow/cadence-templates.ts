/**
 * The only Cadence Latch sends: Cadence 1.0 transactions for a FlowToken transfer, adding
 * an account key and revoking one, and the four Hybrid Custody transactions of account linking
 * (hybrid-custody-templates.ts). The embedded ledger runs exactly these, recognised by
 * the SHA3-256 of the script text; the authenticator can show what a transaction does
 * by parsing its arguments here instead of trusting a description.
 *
 * Contract addresses differ per network, so each network has its own script text and
 * hash. The embedded ledger uses the emulator's addresses (flow-emulator service
 * account contracts). Pure; browser-safe.
 */
import { sha3_256 } from '@noble/hashes/sha3.js';
import { LatchError } from '../../util/latch-error.js';
import {
  HASH_ALGO_SHA2_256,
  HASH_ALGO_SHA3_256,
  normalizeNewKey,
  parseWeight,
  SIGN_ALGO_ECDSA_P256,
  SIGN_ALGO_ECDSA_SECP256K1,
  type FlowHashAlgo,
  type FlowSignAlgo,
  type NewFlowAccountKey,
} from './flow-account-key.js';
import { bytesToHex } from './flow-hex.js';
import { cadenceArg, parseCadenceArg, ufix64ToUnits } from './json-cadence.js';
import { normalizeTransaction, parseFlowAddress, type FlowProposalKey, type FlowTransaction } from './flow-transaction.js';
import { childTransferScript, HYBRID_CUSTODY_ADDRESSES, linkScript, redeemScript, unlinkScript } from './hybrid-custody-templates.js';

export type FlowNetwork = 'emulator' | 'testnet' | 'mainnet';
export type TemplateKind = 'transfer' | 'add-key' | 'revoke-key' | 'link' | 'redeem' | 'child-transfer' | 'unlink';

/** Core contract addresses (Flow docs, "Core Smart Contracts"). */
export const CONTRACT_ADDRESSES: Record<FlowNetwork, { FungibleToken: string; FlowToken: string }> = {
  emulator: { FungibleToken: '0xee82856bf20e2aa6', FlowToken: '0x0ae53cb6e3f42a79' },
  testnet: { FungibleToken: '0x9a0766d93b6608b7', FlowToken: '0x7e60df042a9c0868' },
  mainnet: { FungibleToken: '0xf233dcee88fe0abe', FlowToken: '0x1654653399040a61' },
};

function transferScript(n: FlowNetwork): string {
  const a = CONTRACT_ADDRESSES[n];
  return `import FungibleToken from ${a.FungibleToken}
import FlowToken from ${a.FlowToken}

// Latch template: transfer FLOW from the signer to another account.
transaction(amount: UFix64, to: Address) {
    let sentVault: @{FungibleToken.Vault}

    prepare(signer: auth(BorrowValue) &Account) {
        let vaultRef = signer.storage.borrow<auth(FungibleToken.Withdraw) &FlowToken.Vault>(from: /storage/flowTokenVault)
            ?? panic("The signer has no FlowToken vault at /storage/flowTokenVault")
        self.sentVault <- vaultRef.withdraw(amount: amount)
    }

    execute {
        let receiverRef = getAccount(to).capabilities.borrow<&{FungibleToken.Receiver}>(/public/flowTokenReceiver)
            ?? panic("The recipient has no FlowToken receiver at /public/flowTokenReceiver")
        receiverRef.deposit(from: <-self.sentVault)
    }
}
`;
}

const ADD_KEY_SCRIPT = `// Latch template: add a key to the signer's account.
transaction(publicKey: String, signatureAlgorithm: UInt8, hashAlgorithm: UInt8, weight: UFix64) {
    prepare(signer: auth(AddKey) &Account) {
        let key = PublicKey(
            publicKey: publicKey.decodeHex(),
            signatureAlgorithm: SignatureAlgorithm(rawValue: signatureAlgorithm)
                ?? panic("Unknown signature algorithm")
        )
        signer.keys.add(
            publicKey: key,
            hashAlgorithm: HashAlgorithm(rawValue: hashAlgorithm) ?? panic("Unknown hash algorithm"),
            weight: weight
        )
    }
}
`;

const REVOKE_KEY_SCRIPT = `// Latch template: revoke one key of the signer's account.
transaction(keyIndex: Int) {
    prepare(signer: auth(RevokeKey) &Account) {
        signer.keys.revoke(keyIndex: keyIndex) ?? panic("No key with this index")
    }
}
`;

export interface CadenceTemplate {
  kind: TemplateKind;
  network: FlowNetwork;
  script: string;
  /** SHA3-256 of the UTF-8 script, lowercase hex. */
  scriptHash: string;
  /** Number of authorizers the script's prepare block takes. */
  authorizers: 1;
}

export function scriptHash(script: string): string {
  return bytesToHex(sha3_256(new TextEncoder().encode(script)));
}

function make(kind: TemplateKind, network: FlowNetwork, script: string): CadenceTemplate {
  return Object.freeze({ kind, network, script, scriptHash: scriptHash(script), authorizers: 1 as const });
}

const NETWORKS: FlowNetwork[] = ['emulator', 'testnet', 'mainnet'];
const TEMPLATES: Record<FlowNetwork, Record<TemplateKind, CadenceTemplate>> = Object.fromEntries(
  NETWORKS.map((n) => [
    n,
    {
      transfer: make('transfer', n, transferScript(n)),
      'add-key': make('add-key', n, ADD_KEY_SCRIPT),
      'revoke-key': make('revoke-key', n, REVOKE_KEY_SCRIPT),
      link: make('link', n, linkScript(n)),
      redeem: make('redeem', n, redeemScript(n)),
      'child-transfer': make('child-transfer', n, childTransferScript(n, CONTRACT_ADDRESSES[n])),
      unlink: make('unlink', n, unlinkScript(n)),
    },
  ]),
) as Record<FlowNetwork, Record<TemplateKind, CadenceTemplate>>;

export function parseNetwork(n: string): FlowNetwork {
  if (NETWORKS.includes(n as FlowNetwork)) return n as FlowNetwork;
  throw new LatchError('bad_network', 'network must be emulator, testnet or mainnet');
}

export function templateFor(network: FlowNetwork, kind: TemplateKind): CadenceTemplate {
  return TEMPLATES[parseNetwork(network)][kind];
}

/** The template whose script hash equals the script's, or undefined. */
export function findTemplate(network: FlowNetwork, script: string): CadenceTemplate | undefined {
  const h = scriptHash(script);
  return Object.values(TEMPLATES[parseNetwork(network)]).find((t) => t.scriptHash === h);
}

// Cadence's enums number algorithms differently from Flow's protocol codes
// (Cadence docs, "Crypto": SignatureAlgorithm ECDSA_P256=1, ECDSA_secp256k1=2;
// HashAlgorithm SHA2_256=1, SHA3_256=3). Arguments carry Cadence's raw values.
const CADENCE_SIGN: Record<FlowSignAlgo, number> = { [SIGN_ALGO_ECDSA_P256]: 1, [SIGN_ALGO_ECDSA_SECP256K1]: 2 };
const CADENCE_HASH: Record<FlowHashAlgo, number> = { [HASH_ALGO_SHA2_256]: 1, [HASH_ALGO_SHA3_256]: 3 };

export type TemplateCall =
  | { kind: 'transfer'; amount: string; to: string }
  | { kind: 'add-key'; key: NewFlowAccountKey }
  | { kind: 'revoke-key'; keyIndex: number }
  /** The signer (child) publishes a capability on itself to `parent`. */
  | { kind: 'link'; parent: string }
  /** The signer (parent) claims the capability `child` published to it. */
  | { kind: 'redeem'; child: string }
  /** The signer (parent) moves `amount` of its child's FLOW to `to`. */
  | { kind: 'child-transfer'; amount: string; to: string; child: string }
  /** The signer (child) takes the capability back from `parent`. */
  | { kind: 'unlink'; parent: string };

/** Who signs a kind: the account acted on, or the parent acting through a link. */
export function signerRole(kind: TemplateKind): 'self' | 'parent' {
  return kind === 'redeem' || kind === 'child-transfer' ? 'parent' : 'self';
}

const ARG_COUNT: Record<TemplateKind, number> = { transfer: 2, 'add-key': 4, 'revoke-key': 1, link: 6, redeem: 3, 'child-transfer': 3, unlink: 1 };

/** JSON-Cadence arguments for a call, in script parameter order. */
export function templateArguments(call: TemplateCall, network: FlowNetwork = 'emulator'): string[] {
  switch (call.kind) {
    case 'link': {
      // Always the network's hosted NFT + FT factory and AllowAllFilter: the parent may take
      // every capability, which is what the card says. No display metadata (nil).
      const hc = HYBRID_CUSTODY_ADDRESSES[parseNetwork(network)];
      return [cadenceArg.address(call.parent), cadenceArg.address(hc.factoryManager), cadenceArg.address(hc.allowAllFilter), cadenceArg.nil(), cadenceArg.nil(), cadenceArg.nil()];
    }
    case 'redeem':
      return [cadenceArg.address(call.child), cadenceArg.nil(), cadenceArg.nil()];
    case 'child-transfer':
      if (ufix64ToUnits(call.amount) === 0n) throw new LatchError('bad_argument', 'amount must be greater than zero');
      return [cadenceArg.ufix64(call.amount), cadenceArg.address(call.to), cadenceArg.address(call.child)];
    case 'unlink':
      return [cadenceArg.address(call.parent)];
    case 'transfer':
      if (ufix64ToUnits(call.amount) === 0n) throw new LatchError('bad_argument', 'amount must be greater than zero');
      return [cadenceArg.ufix64(call.amount), cadenceArg.address(call.to)];
    case 'add-key': {
      const k = normalizeNewKey(call.key);
      return [cadenceArg.string(k.publicKey), cadenceArg.uint8(CADENCE_SIGN[k.signAlgo]), cadenceArg.uint8(CADENCE_HASH[k.hashAlgo]), cadenceArg.ufix64(`${k.weight}.00000000`)];
    }
    case 'revoke-key':
      if (!Number.isInteger(call.keyIndex) || call.keyIndex < 0 || call.keyIndex > 0xffffffff) {
        throw new LatchError('bad_argument', 'key index must be an integer between 0 and 4294967295');
      }
      return [cadenceArg.int(call.keyIndex)];
  }
}

function inverse(map: Record<number, number>, raw: number, what: string): number {
  const hit = Object.entries(map).find(([, v]) => v === raw);
  if (!hit) throw new LatchError('bad_argument', `${what} ${raw} is not one Latch supports`);
  return Number(hit[0]);
}

/**
 * Recognises a (script, arguments) pair as one of the templates and parses its arguments
 * strictly. Throws LatchError('unknown_script') for any other script and
 * LatchError('bad_argument') for arguments that are not exactly what the template takes.
 */
export function parseTemplateCall(network: FlowNetwork, script: string, args: string[]): TemplateCall {
  const t = findTemplate(network, script);
  if (!t) {
    throw new LatchError(
      'unknown_script',
      `this ledger runs only Latch's transfer, add-key and revoke-key templates and the Hybrid Custody ones for ${network}; the script (sha3-256 ${scriptHash(script)}) is not one of them`,
    );
  }
  const want = ARG_COUNT[t.kind];
  if (!Array.isArray(args) || args.length !== want) throw new LatchError('bad_argument', `${t.kind} takes ${want} arguments`);
  switch (t.kind) {
    case 'link': {
      const hc = HYBRID_CUSTODY_ADDRESSES[network];
      const parent = parseCadenceArg.address(args[0]!);
      if (parseCadenceArg.address(args[1]!) !== hc.factoryManager || parseCadenceArg.address(args[2]!) !== hc.allowAllFilter) {
        throw new LatchError('bad_argument', `a link uses ${network}'s hosted capability factory ${hc.factoryManager} and AllowAllFilter ${hc.allowAllFilter}`);
      }
      for (const a of args.slice(3)) parseCadenceArg.nil(a);
      return { kind: 'link', parent };
    }
    case 'redeem': {
      const child = parseCadenceArg.address(args[0]!);
      parseCadenceArg.nil(args[1]!);
      parseCadenceArg.nil(args[2]!);
      return { kind: 'redeem', child };
    }
    case 'child-transfer': {
      const amount = parseCadenceArg.ufix64(args[0]!);
      if (ufix64ToUnits(amount) === 0n) throw new LatchError('bad_argument', 'amount must be greater than zero');
      return { kind: 'child-transfer', amount, to: parseCadenceArg.address(args[1]!), child: parseCadenceArg.address(args[2]!) };
    }
    case 'unlink':
      return { kind: 'unlink', parent: parseCadenceArg.address(args[0]!) };
    case 'transfer': {
      const amount = parseCadenceArg.ufix64(args[0]!);
      if (ufix64ToUnits(amount) === 0n) throw new LatchError('bad_argument', 'amount must be greater than zero');
      return { kind: 'transfer', amount, to: parseCadenceArg.address(args[1]!) };
    }
    case 'add-key': {
      const publicKey = parseCadenceArg.string(args[0]!);
      const signAlgo = inverse(CADENCE_SIGN, parseCadenceArg.uint8(args[1]!), 'signature algorithm') as FlowSignAlgo;
      const hashAlgo = inverse(CADENCE_HASH, parseCadenceArg.uint8(args[2]!), 'hash algorithm') as FlowHashAlgo;
      const units = ufix64ToUnits(parseCadenceArg.ufix64(args[3]!));
      if (units % 100_000_000n !== 0n) throw new LatchError('bad_argument', 'key weight must be a whole number');
      const weight = parseWeight(Number(units / 100_000_000n));
      if (!/^[0-9a-f]{128}$/.test(publicKey)) throw new LatchError('bad_argument', 'public key must be 128 lowercase hex digits');
      return { kind: 'add-key', key: normalizeNewKey({ publicKey, signAlgo, hashAlgo, weight }) };
    }
    case 'revoke-key': {
      const keyIndex = parseCadenceArg.int(args[0]!);
      if (keyIndex < 0 || keyIndex > 0xffffffff) throw new LatchError('bad_argument', 'key index out of range');
      return { kind: 'revoke-key', keyIndex };
    }
  }
}

/** Default computation limit for template transactions (well above what they use). */
export const DEFAULT_GAS_LIMIT = 9999;

/** An unsigned transaction running a template, with the one authorizer the templates take. */
export function templateTransaction(opts: {
  network: FlowNetwork;
  call: TemplateCall;
  referenceBlockId: string;
  proposalKey: FlowProposalKey;
  payer: string;
  authorizer: string;
  gasLimit?: number;
}): FlowTransaction {
  return normalizeTransaction({
    script: templateFor(opts.network, opts.call.kind).script,
    arguments: templateArguments(opts.call, opts.network),
    referenceBlockId: opts.referenceBlockId,
    gasLimit: opts.gasLimit ?? DEFAULT_GAS_LIMIT,
    proposalKey: opts.proposalKey,
    payer: opts.payer,
    authorizers: [parseFlowAddress(opts.authorizer)],
    payloadSignatures: [],
    envelopeSignatures: [],
  });
}

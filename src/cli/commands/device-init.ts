/** `latch device init --name NAME`: create the authenticator identity and its first SSH key. */
import { defaultCli, parse, usageError } from '../cli-context.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { encodeBase64url } from '../../protocol/base64url.js';
import { validateName } from '../../protocol/pairing-link.js';
import { nowSeconds } from '../../protocol/messages.js';
import { Keystore, KDF_COSTS, type KdfCost } from '../../authenticator/keystore.js';
import { generateEd25519SshKey, sshKeyInfo } from '../../authenticator/ssh-key-factory.js';
import { readPassphrase } from '../../util/passphrase.js';
import { LatchError } from '../../util/latch-error.js';

const USAGE = 'latch device init --name NAME [--kdf-cost min|interactive|moderate|sensitive] [--json]';

export async function deviceInit(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values } = parse(argv, { name: { type: 'string' }, 'kdf-cost': { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  if (values.name === undefined) throw usageError('--name is required', USAGE);
  const kdfCost = (values['kdf-cost'] ?? 'interactive') as KdfCost;
  if (!KDF_COSTS.includes(kdfCost)) throw usageError(`--kdf-cost must be one of ${KDF_COSTS.join(', ')}`, USAGE);
  const name = validateName(values.name, 'device name');
  if (Keystore.exists(cli.paths.keystoreFile)) {
    // Checked before asking for a passphrase (Keystore.create checks again under its lock).
    throw new LatchError('already_initialized', `an authenticator already exists in ${cli.paths.authenticatorDir}`);
  }
  const passphrase = await readPassphrase({ envVar: 'LATCH_PASSPHRASE', prompt: 'New passphrase for this authenticator: ', confirm: true });
  const sodium = await sodiumReady();
  const now = nowSeconds();
  const key = generateEd25519SshKey(sodium, 'ssh', now);
  const ks = await Keystore.create(sodium, cli.paths.keystoreFile, passphrase, {
    v: 1,
    deviceId: encodeBase64url(sodium.randombytes_buf(16)),
    name,
    createdAt: now,
    sshKeys: [key],
    pairings: [],
    replay: [],
  }, { kdfCost });
  if (kdfCost === 'min') {
    cli.err('Warning: --kdf-cost min makes a stolen keystore file cheap to guess the passphrase of; use it for tests and throwaway authenticators only.');
  }
  const info = sshKeyInfo(key);
  if (values.json) {
    cli.out(JSON.stringify({ name, device_id: ks.state.deviceId, ssh_keys: [info] }));
  } else {
    cli.out(`Authenticator "${name}" created in ${cli.paths.authenticatorDir} (keystore encrypted with your passphrase).`);
    cli.out(`SSH key: ${info.public_key}`);
  }
  return 0;
}

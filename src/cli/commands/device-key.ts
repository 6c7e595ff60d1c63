/** `latch device key add --type ed25519|ecdsa --name NAME` and `latch device key list [--json]`. */
import { defaultCli, parse, usageError } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { validateName } from '../../protocol/pairing-link.js';
import { nowSeconds } from '../../protocol/messages.js';
import { generateEd25519SshKey, generateP256SshKey, sshKeyInfo } from '../../authenticator/ssh-key-factory.js';
import { LatchError } from '../../util/latch-error.js';

const USAGE = 'latch device key add [--type ed25519|ecdsa] --name NAME [--json] | latch device key list [--json]';

export async function deviceKey(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const [sub, ...rest] = argv;
  if (sub !== 'add' && sub !== 'list') throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  const { values } = parse(rest, { type: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  const sodium = await sodiumReady();
  const ks = await openKeystore(sodium, cli.paths.keystoreFile);
  if (sub === 'list') {
    const infos = ks.state.sshKeys.map(sshKeyInfo);
    if (values.json) cli.out(JSON.stringify({ ssh_keys: infos }));
    else for (const k of infos) cli.out(k.public_key);
    return 0;
  }
  if (values.name === undefined) throw usageError('--name is required', USAGE);
  const name = validateName(values.name, 'key name');
  if (/\s/.test(name)) throw usageError('a key name may not contain spaces', USAGE);
  const type = values.type ?? 'ed25519';
  if (type !== 'ed25519' && type !== 'ecdsa') throw usageError('--type must be ed25519 or ecdsa (ecdsa-sha2-nistp256)', USAGE);
  const key = type === 'ed25519' ? generateEd25519SshKey(sodium, name, nowSeconds()) : generateP256SshKey(name, nowSeconds());
  await ks.update((s) => {
    if (s.sshKeys.some((k) => k.name === name)) throw new LatchError('key_exists', `a key named "${name}" already exists`);
    if (s.sshKeys.length >= 32) throw new LatchError('too_many_keys', 'an authenticator holds at most 32 keys');
    s.sshKeys.push(key);
  });
  const info = sshKeyInfo(key);
  if (values.json) cli.out(JSON.stringify(info));
  else {
    cli.err(`Added key "${name}". Paired computers see it at their next \`latch status\` or agent refresh.`);
    cli.out(info.public_key);
  }
  return 0;
}

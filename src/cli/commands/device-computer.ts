/**
 * `latch device computer list [--json]` and `latch device computer remove NAME`: the computers
 * this authenticator is paired with. Removing one forgets its pairing keys and its timed
 * approvals, and closes its inbox queue on the relay, so the computer's next request is refused
 * by the relay at once (410) instead of waiting for an answer that never comes.
 */
import { defaultCli, parse, usageError } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { decodeBase64url } from '../../protocol/base64url.js';
import { pairingFingerprint } from '../../authenticator/pairing-fingerprint.js';
import { RelayClient } from '../../transport/relay-client.js';
import { LatchError } from '../../util/latch-error.js';

const USAGE = 'latch device computer list [--json] | latch device computer remove NAME';

export async function deviceComputer(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const [sub, ...rest] = argv;
  if (sub !== 'list' && sub !== 'remove') throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, USAGE, sub === 'remove' ? 1 : 0);
  const ks = await openKeystore(await sodiumReady(), cli.paths.keystoreFile);
  if (sub === 'list') {
    const computers = ks.state.pairings.map((p) => ({ name: p.computerName, id: p.id, pairing_fingerprint: pairingFingerprint(p), relay: p.relayUrl, paired_at: p.pairedAt }));
    if (values.json) cli.out(JSON.stringify({ computers }));
    else if (computers.length === 0) cli.out('No computer paired.');
    else for (const c of computers) cli.out(`${c.name}  (pairing ${c.pairing_fingerprint}, paired ${new Date(c.paired_at * 1000).toISOString()}, relay ${c.relay})`);
    return 0;
  }
  const name = positionals[0];
  if (name === undefined) throw usageError('give the name of the computer to remove', USAGE);
  const matches = ks.state.pairings.filter((p) => p.computerName === name || p.id === name);
  if (matches.length === 0) throw new LatchError('no_such_computer', `no paired computer "${name}" (see: latch device computer list)`);
  if (matches.length > 1) throw new LatchError('ambiguous_computer', `${matches.length} computers are named "${name}"; give the id from \`latch device computer list --json\``);
  const p = matches[0]!;
  await ks.update((s) => {
    s.pairings = s.pairings.filter((x) => x.id !== p.id);
    s.policies = (s.policies ?? []).filter((x) => x.pairingId !== p.id);
    s.allowUnverifiedFor = (s.allowUnverifiedFor ?? []).filter((x) => x !== p.id);
  });
  cli.err(`Removed "${p.computerName}": its pairing keys and timed approvals are gone.`);
  try {
    await new RelayClient({ url: p.relayUrl }).close({ publicKey: decodeBase64url(p.queuePublicKey), secretKey: decodeBase64url(p.queueSecretKey) }, 'unpaired by the authenticator');
  } catch (e) {
    cli.err(`Could not close its queue on the relay (${(e as Error).message}); the computer's requests will time out instead of being refused.`);
  }
  return 0;
}

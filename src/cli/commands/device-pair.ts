/** `latch device pair LINK`: what scanning the QR code does on the authenticator. */
import { defaultCli, parse, usageError, secondsFrom, relayUrlFrom } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { parsePairingLink } from '../../protocol/pairing-link.js';
import { TIMEOUT_PAIR_SECONDS } from '../../protocol/protocol-constants.js';
import { pairWithComputer } from '../../authenticator/pair-with-computer.js';
import { RelayClient } from '../../transport/relay-client.js';

const USAGE = "latch device pair 'latch://pair?...' [--timeout SECONDS] [--server URL[,URL...]]";

export async function devicePair(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values, positionals } = parse(argv, { timeout: { type: 'string' }, server: { type: 'string' } }, USAGE, 1);
  if (positionals[0] === undefined) throw usageError('missing the pairing link', USAGE);
  // Parse before asking for the passphrase: a bad link should fail fast and say why.
  const parsed = parsePairingLink(positionals[0]);
  // --server: the relay node(s) this authenticator reaches the computer's relay at, instead of the
  // link's (issue 10: several nodes of one relay, comma-separated); stored with the pairing.
  const link = values.server === undefined ? parsed : { ...parsed, relayUrl: relayUrlFrom(values.server) };
  const timeoutSeconds = secondsFrom(values.timeout, TIMEOUT_PAIR_SECONDS, '--timeout', USAGE);
  const sodium = await sodiumReady();
  const keystore = await openKeystore(sodium, cli.paths.keystoreFile);
  cli.err(`Pairing with "${link.name}" via ${link.relayUrl}...`);
  const pairing = await pairWithComputer({
    sodium,
    keystore,
    link,
    relay: new RelayClient({ url: link.relayUrl }),
    timeoutSeconds,
    log: (line) => cli.err(`  ${line}`),
    onCheckCode: (code) => cli.err(`Check code: ${code}  (the computer must show the same code)`),
  });
  cli.out(`Paired with "${pairing.computerName}".`);
  return 0;
}

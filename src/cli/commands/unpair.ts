/**
 * `latch unpair`: the authenticator forgets this computer, and this computer forgets it.
 * The local pairing is removed even when the authenticator does not answer in time: the request
 * stays queued on the relay and is applied when the authenticator next reads its queue, as long
 * as that is within the freshness window (PROTOCOL.md §5.3); after that, remove the computer on
 * the authenticator itself.
 */
import { defaultCli, parse, secondsFrom } from '../cli-context.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { FRESHNESS_WINDOW_SECONDS } from '../../protocol/protocol-constants.js';
import { loadComputerState, samePairing, updateComputerState } from '../../computer/computer-state.js';
import { requestUnpair } from '../../computer/unpair-authenticator.js';

const USAGE = 'latch unpair [--timeout SECONDS] [--json]';
const DEFAULT_TIMEOUT_SECONDS = 10;

export async function unpair(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values } = parse(argv, { timeout: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  const timeoutSeconds = secondsFrom(values.timeout, DEFAULT_TIMEOUT_SECONDS, '--timeout', USAGE);
  const p = loadComputerState(cli.paths.computerFile).pairing;
  if (!p) {
    if (values.json) cli.out(JSON.stringify({ unpaired: false, was_paired: false }));
    else cli.out('Not paired; nothing to do.');
    return 0;
  }
  if (!values.json) cli.err(`Asking "${p.deviceName}" to forget this computer (up to ${timeoutSeconds} s)...`);
  const outcome = await requestUnpair(await sodiumReady(), p, timeoutSeconds);
  await updateComputerState(cli.paths.computerFile, (s) => {
    if (samePairing(s.pairing, p)) delete s.pairing; // a newer pairing made meanwhile stays
  });
  if (values.json) {
    cli.out(JSON.stringify({ unpaired: true, was_paired: true, device: p.deviceName, authenticator_answered: outcome.answered }));
    return 0;
  }
  if (outcome.answered) cli.out(`Unpaired: "${p.deviceName}" forgot this computer, and this computer forgot it.`);
  else {
    cli.out(`Unpaired here. "${p.deviceName}" did not answer (${outcome.reason}).`);
    cli.out(`It will forget this computer if it reads its queue within ${Math.round(FRESHNESS_WINDOW_SECONDS / 60)} minutes; otherwise remove this computer on the authenticator (Computers screen, or \`latch device computer remove NAME\`).`);
  }
  return 0;
}

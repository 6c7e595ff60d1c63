/** `latch device run`: the authenticator waits for requests from its paired computers. */
import { defaultCli, parse, secondsFrom } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { runDevice } from '../../authenticator/device-runner.js';
import { RelayClient } from '../../transport/relay-client.js';
import { custodyLoopFor } from './device-run-custody.js';
import { ConsoleApprover } from '../../authenticator/console-approver.js';
import { approveOnce } from '../../authenticator/sign-review.js';
import { TurnWriter } from '../../util/turn-writer.js';

const USAGE = 'latch device run [--auto-approve] [--prompt-timeout SECONDS]';

export async function deviceRun(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values } = parse(argv, { 'auto-approve': { type: 'boolean' }, 'prompt-timeout': { type: 'string' } }, USAGE);
  const promptSeconds = secondsFrom(values['prompt-timeout'], 50, '--prompt-timeout', USAGE);
  const sodium = await sodiumReady();
  const keystore = await openKeystore(sodium, cli.paths.keystoreFile);
  const relays = new Map<string, RelayClient>();
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  cli.err(`Authenticator "${keystore.state.name}" running${values['auto-approve'] ? ' (auto-approve: every request is approved without asking)' : ''}.`);
  // Every later line, and the prompts, through one writer: a request's lines leave in one write.
  const stderr = new TurnWriter((t) => process.stderr.write(t));
  const log = (line: string): void => stderr.write(`[device] ${line}\n`);
  try {
    await runDevice({
      sodium,
      keystore,
      relayFor: (url) => {
        let r = relays.get(url);
        if (!r) relays.set(url, (r = new RelayClient({ url })));
        return r;
      },
      log,
      signal: abort.signal,
      extraLoops: [custodyLoopFor({ sodium, keystore, relays, autoApprove: values['auto-approve'] === true, log })],
      // --auto-approve approves each request once; it never creates a timed policy.
      // The keystore passphrase is the user verification a WebAuthn site may ask for (docs/BROWSER.md).
      approver: values['auto-approve']
        ? approveOnce
        : new ConsoleApprover(process.stdin, (t) => stderr.write(t), promptSeconds, undefined, undefined, (secret) => keystore.verifyPassphrase(secret)),
      onWatching: (n) => log(`ready: waiting for requests from ${n} paired computer${n === 1 ? '' : 's'}`),
    });
  } finally {
    stderr.close();
  }
  return 0;
}

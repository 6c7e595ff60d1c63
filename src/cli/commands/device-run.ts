/** `latch device run`: the authenticator waits for requests from its paired computers. */
import { defaultCli, parse, secondsFrom } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { runDevice } from '../../authenticator/device-runner.js';
import { RelayClient } from '../../transport/relay-client.js';
import { custodyLoopFor } from './device-run-custody.js';
import { ConsoleApprover } from '../../authenticator/console-approver.js';
import { approveOnce } from '../../authenticator/sign-review.js';

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
  await runDevice({
    sodium,
    keystore,
    relayFor: (url) => {
      let r = relays.get(url);
      if (!r) relays.set(url, (r = new RelayClient({ url })));
      return r;
    },
    log: (line) => cli.err(`[device] ${line}`),
    signal: abort.signal,
    extraLoops: [custodyLoopFor({ sodium, keystore, relays, autoApprove: values['auto-approve'] === true, log: (line) => cli.err(`[device] ${line}`) })],
    // --auto-approve approves each request once; it never creates a timed policy.
    // The keystore passphrase is the user verification a WebAuthn site may ask for (docs/BROWSER.md).
    approver: values['auto-approve']
      ? approveOnce
      : new ConsoleApprover(process.stdin, (t) => process.stderr.write(t), promptSeconds, undefined, undefined, (secret) => keystore.verifyPassphrase(secret)),
    onWatching: (n) => cli.err(`[device] ready: waiting for requests from ${n} paired computer${n === 1 ? '' : 's'}`),
  });
  return 0;
}

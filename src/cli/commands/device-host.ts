/** `latch device host list [--json]` and `latch device host forget NAME`: SSH host keys pinned on first use (issue 3). */
import { defaultCli, parse, usageError } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { decodeBase64url } from '../../protocol/base64url.js';
import { sshFingerprint } from '../../protocol/ssh/ssh-public-key.js';
import { LatchError } from '../../util/latch-error.js';

const USAGE = 'latch device host list [--json] | latch device host forget NAME';

export async function deviceHost(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const [sub, ...rest] = argv;
  if (sub !== 'list' && sub !== 'forget') throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, USAGE, sub === 'forget' ? 1 : 0);
  const ks = await openKeystore(await sodiumReady(), cli.paths.keystoreFile);
  if (sub === 'list') {
    const hosts = (ks.state.pinnedHosts ?? []).map((h) => ({ name: h.name, fingerprint: sshFingerprint(decodeBase64url(h.hostKey)), pinned_at: h.pinnedAt }));
    if (values.json) cli.out(JSON.stringify({ hosts }));
    else for (const h of hosts) cli.out(`${h.name}  ${h.fingerprint}`);
    return 0;
  }
  const name = positionals[0];
  if (name === undefined) throw usageError('give the host name to forget', USAGE);
  const n = await ks.update((s) => {
    const before = (s.pinnedHosts ?? []).length;
    s.pinnedHosts = (s.pinnedHosts ?? []).filter((h) => h.name !== name);
    return before - s.pinnedHosts.length;
  });
  if (n === 0) throw new LatchError('no_such_host', `no pinned host "${name}"`);
  cli.err(`Forgot the pinned key of ${name}; the next verified login pins the key it presents.`);
  return 0;
}

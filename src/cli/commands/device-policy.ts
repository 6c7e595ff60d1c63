/**
 * `latch device policy list [--json]`, `revoke ID|--all`, and
 * `allow-unverified --computer NAME [--off]`: timed approvals on the authenticator (issue 3).
 */
import { defaultCli, parse, usageError } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { nowSeconds } from '../../protocol/messages.js';
import { livePolicies } from '../../authenticator/policy-book.js';
import { describeScope } from '../../authenticator/sign-review.js';
import { LatchError } from '../../util/latch-error.js';

const USAGE = 'latch device policy list [--json] | revoke ID|--all | allow-unverified --computer NAME [--off]';

export async function devicePolicy(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const [sub, ...rest] = argv;
  if (sub !== 'list' && sub !== 'revoke' && sub !== 'allow-unverified') {
    throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  }
  const { values, positionals } = parse(
    rest,
    { json: { type: 'boolean' }, all: { type: 'boolean' }, computer: { type: 'string' }, off: { type: 'boolean' } },
    USAGE,
    sub === 'revoke' ? 1 : 0,
  );
  const sodium = await sodiumReady();
  const ks = await openKeystore(sodium, cli.paths.keystoreFile);
  const now = nowSeconds();
  if (sub === 'list') {
    const live = livePolicies(ks.state, now);
    const optIns = ks.state.pairings.filter((p) => (ks.state.allowUnverifiedFor ?? []).includes(p.id)).map((p) => p.computerName);
    if (values.json) {
      cli.out(
        JSON.stringify({
          policies: live.map((p) => ({ id: p.id, computer: p.computerName, scope: p.scope, created_at: p.createdAt, expires_at: p.expiresAt })),
          allow_unverified: optIns,
        }),
      );
    } else {
      if (live.length === 0) cli.out('No timed approvals.');
      for (const p of live) cli.out(`${p.id}  ${describeScope(p.scope)}  computer "${p.computerName}"  ${p.expiresAt - now} s left`);
      if (optIns.length) cli.out(`Timed approvals allowed for unverified hosts on: ${optIns.join(', ')}`);
    }
    return 0;
  }
  if (sub === 'revoke') {
    const id = positionals[0];
    if ((id === undefined) === !values.all) throw usageError('give a policy ID or --all', USAGE);
    const removed = await ks.update((s) => {
      const before = s.policies ?? [];
      s.policies = values.all ? [] : before.filter((p) => p.id !== id);
      return before.length - s.policies.length;
    });
    if (!values.all && removed === 0) throw new LatchError('no_such_policy', `no policy ${id} (see \`latch device policy list\`)`);
    cli.err(`Revoked ${removed} polic${removed === 1 ? 'y' : 'ies'}.`);
    return 0;
  }
  if (values.computer === undefined) throw usageError('--computer NAME is required', USAGE);
  const name = values.computer;
  await ks.update((s) => {
    const pairing = s.pairings.find((p) => p.computerName === name);
    if (!pairing) throw new LatchError('no_such_computer', `no paired computer named "${name}"`);
    const set = new Set(s.allowUnverifiedFor ?? []);
    if (values.off) set.delete(pairing.id);
    else set.add(pairing.id);
    s.allowUnverifiedFor = [...set];
  });
  cli.err(
    values.off
      ? `Unverified hosts from "${name}" get approve-once only again.`
      : `Timed approvals may now cover unverified hosts for "${name}". Undo: latch device policy allow-unverified --computer ${name} --off`,
  );
  return 0;
}

/**
 * `latch device passkey list [--json]` and `latch device passkey remove [--] ID` (issue 11): the
 * WebAuthn credentials this authenticator holds. A removed passkey is gone for good: the site
 * still lists it, and the user registers a new one there. An id is base64url, so it may begin
 * with "-": it then goes after "--", as for any command line tool.
 */
import { defaultCli, parse, usageError } from '../cli-context.js';
import { openKeystore } from '../open-keystore.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { LatchError } from '../../util/latch-error.js';
import { cleanLine } from '../../authenticator/sign-review.js';

const USAGE = 'latch device passkey list [--json] | latch device passkey remove [--] CREDENTIAL_ID';

export async function devicePasskey(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const [sub, ...rest] = argv;
  if (sub !== 'list' && sub !== 'remove') throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, USAGE, sub === 'remove' ? 1 : 0);
  const ks = await openKeystore(await sodiumReady(), cli.paths.keystoreFile);
  if (sub === 'list') {
    // Public facts only, built field by field: never the stored record (it holds the key).
    const list = (ks.state.webauthnCredentials ?? []).map((c) => ({
      id: c.id,
      rp_id: c.rpId,
      rp_name: c.rpName,
      user_name: c.userName,
      algorithm: c.alg === -7 ? 'ES256' : 'EdDSA',
      sign_count: c.signCount,
      created_at: c.createdAt,
    }));
    if (values.json) cli.out(JSON.stringify({ passkeys: list }));
    else if (list.length === 0) cli.err('No passkeys on this authenticator.');
    else for (const p of list) cli.out(`${p.id}  ${cleanLine(p.rp_id)}  ${cleanLine(p.user_name)}  ${p.algorithm}  used ${p.sign_count}x`);
    return 0;
  }
  const id = positionals[0];
  if (id === undefined) throw usageError('CREDENTIAL_ID is required', USAGE);
  const removed = await ks.update((s) => {
    const c = (s.webauthnCredentials ?? []).find((x) => x.id === id);
    if (!c) throw new LatchError('no_credential', `no passkey with id ${id.slice(0, 64)}; see \`latch device passkey list\``);
    s.webauthnCredentials = (s.webauthnCredentials ?? []).filter((x) => x.id !== id);
    return c;
  });
  cli.err(`Removed the passkey for ${cleanLine(removed.rpId)} (${cleanLine(removed.userName)}).`);
  return 0;
}

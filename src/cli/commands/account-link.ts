/**
 * `latch account link --parent 0xPARENT` and `latch account unlink --parent 0xPARENT` (issue 13;
 * docs/CUSTODY.md "Account linking"): this account (the child) publishes a Hybrid Custody
 * capability on itself to a wallet the user owns, or takes it back. Two of three keys sign: this
 * device and the server's co-signature (after self-custody, another device of the account).
 */
import { parse, usageError } from '../cli-context.js';
import { isLatchError } from '../../util/latch-error.js';
import { linkCardLines } from '../../authenticator/custody-notice-core.js';
import { COMMON_FLAGS, openSession, printResult, requireAccount } from './account-session.js';

const ADDRESS = /^(0x)?[0-9a-fA-F]{16}$/;

async function change(kind: 'link' | 'unlink', argv: string[]): Promise<number> {
  const usage = `latch account ${kind} --parent 0xPARENT [--server URL] [--json]`;
  const { values } = parse(argv, { ...COMMON_FLAGS, parent: { type: 'string' } }, usage);
  if (values.parent === undefined || !ADDRESS.test(values.parent)) throw usageError('--parent must be a Flow address (0x + 16 hex digits)', usage);
  const parent = `0x${values.parent.replace(/^0x/, '').toLowerCase()}`;
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  const { address, keyIndex } = requireAccount(s);
  // This CLI is the authenticator here (it holds the device key): it shows the card itself.
  if (kind === 'link') for (const line of linkCardLines(parent, address)) s.cli.err(line);
  let out;
  try {
    out = await s.client[kind === 'link' ? 'linkParent' : 'unlinkParent']({ address, parent, device: { keyIndex, signer: s.device } });
  } catch (e) {
    // A link waits like a recovery (docs/CUSTODY.md "Account linking"): the server's message says
    // until when and the cancel id; say how to finish it.
    if (isLatchError(e, 'link_delayed')) s.cli.err(`Link to ${parent} pending: every device of ${address} was told. Run this same command again once the delay the server names has passed; any device can cancel it (latch account recover --cancel ID).`);
    throw e;
  }
  const human =
    kind === 'unlink' ? `Unlinked ${parent}: it can no longer act on ${address}.`
    : out.already ? `Already linked to ${parent} (${out.state}); nothing sent.`
    : `Linked: ${address} published its capability to ${parent}. The parent now runs: latch account redeem ${address} --parent-key FILE`;
  printResult(s, values.json, { address, ...out }, human);
  return 0;
}

export const accountLink = (argv: string[]): Promise<number> => change('link', argv);
export const accountUnlink = (argv: string[]): Promise<number> => change('unlink', argv);

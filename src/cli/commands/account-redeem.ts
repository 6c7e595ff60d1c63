/**
 * `latch account redeem 0xCHILD --parent-key FILE`: the parent claims the capability the child
 * published to it into its HybridCustody.Manager, signed by the parent's key alone (issue 13).
 */
import { parse, usageError } from '../cli-context.js';
import { readFlowKeyFile } from '../flow-key-file.js';
import { COMMON_FLAGS, parentClient } from './account-session.js';

const USAGE = 'latch account redeem 0xCHILD --parent-key FILE [--server URL] [--json]';

export async function accountRedeem(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_FLAGS, 'parent-key': { type: 'string' } }, USAGE, 1);
  const child = positionals[0];
  if (child === undefined || !/^(0x)?[0-9a-fA-F]{16}$/.test(child)) throw usageError('give the child account address (0x + 16 hex digits)', USAGE);
  if (values['parent-key'] === undefined) throw usageError('--parent-key FILE is needed (the parent signs alone)', USAGE);
  const key = readFlowKeyFile(values['parent-key']);
  const { client, cli } = await parentClient(values.server);
  const sent = await client.redeemChild({ child, parent: key.signer });
  const c = `0x${child.replace(/^0x/, '').toLowerCase()}`;
  if (values.json) cli.out(JSON.stringify({ parent: key.address, child: c, id: sent.id, status: sent.status }));
  else cli.out(`${key.address} redeemed the link of ${c}: transaction ${sent.id} (${sent.status}).`);
  return 0;
}

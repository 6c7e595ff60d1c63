/**
 * `latch account join ADDRESS`: this (logged-in) authenticator asks to join the account; the
 * account's devices get the request through the relay and one approves it (2FA). Waits, and
 * exits 0 once the key is added. The pending join is kept in the keystore, so running the
 * command again (or a server restart meanwhile) resumes the same request.
 */
import { hostname } from 'node:os';
import { parse, usageError } from '../cli-context.js';
import { isLatchError, LatchError } from '../../util/latch-error.js';
import { parseFlowAddress } from '../../ledger/flow/flow-transaction.js';
import { COMMON_FLAGS, adoptAccount, openSession, printResult } from './account-session.js';

const USAGE = 'latch account join ADDRESS [--name DEVICE_NAME] [--server URL] [--json]';

function transient(e: unknown): boolean {
  return isLatchError(e) && (e.code === 'server_unreachable' || e.code === 'bad_response' || e.status >= 500);
}

export async function accountJoin(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_FLAGS, name: { type: 'string' } }, USAGE, 1);
  if (positionals[0] === undefined || !/^(0x)?[0-9a-fA-F]{16}$/.test(positionals[0])) throw usageError('give the account ADDRESS (0x + 16 hex digits)', USAGE);
  const address = parseFlowAddress(positionals[0]);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}) });
  if (s.custody.account === address) throw new LatchError('already_member', `this authenticator already holds a key of ${address}`);
  if (s.custody.account) throw new LatchError('already_has_account', `this authenticator already holds a key of ${s.custody.account}`);
  let joinId = s.custody.pendingJoin?.address === address ? s.custody.pendingJoin.id : undefined;
  if (joinId !== undefined) s.cli.err(`Resuming the join request ${joinId}.`);
  else {
    const j = await s.client.join(address, values.name ?? s.keystore.state.name ?? hostname());
    joinId = j.join_id;
    const id = joinId;
    await s.save((c) => (c.pendingJoin = { id, address }));
  }
  s.cli.err(`Join request sent. Approve it on a device of ${address} (it expires in 3 minutes).`);
  for (;;) {
    let st;
    try {
      st = await s.client.joinStatus(joinId);
    } catch (e) {
      if (!transient(e)) throw e;
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    if (st.status === 'approved') {
      await adoptAccount(s, address, st.key_index!, true);
      printResult(s, values.json, { address, key_index: st.key_index, status: 'approved' }, `Joined ${address}: this device is key ${st.key_index}.`);
      return 0;
    }
    if (st.status !== 'pending') {
      await s.save((c) => delete c.pendingJoin);
      throw new LatchError(`join_${st.status}`, `the join request was ${st.status}; nothing changed`);
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

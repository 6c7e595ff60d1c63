/** `latch device run`, custody part: join approvals (--auto-approve approves them too). */
import { createInterface } from 'node:readline';
import type { Sodium } from '../../protocol/sodium.js';
import type { Keystore } from '../../authenticator/keystore.js';
import { RelayClient } from '../../transport/relay-client.js';
import { custodyInboxLoop, type JoinDecider } from '../../authenticator/custody-notices.js';

export function custodyLoopFor(o: { sodium: Sodium; keystore: Keystore; relays: Map<string, RelayClient>; autoApprove: boolean; log: (l: string) => void }): (signal: AbortSignal) => Promise<void> {
  const decide: JoinDecider = async (question, left) => {
    if (o.autoApprove) {
      o.log(`custody: auto-approving: ${question}`);
      return true;
    }
    if (!process.stdin.isTTY) {
      o.log('custody: no terminal to ask on; denying (run with --auto-approve to approve unattended)');
      return false;
    }
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await Promise.race([
        new Promise<string>((r) => rl.question(`${question} ${left} s left [y/N] `, r)),
        new Promise<string>((r) => setTimeout(() => r('n'), left * 1000).unref()),
      ]);
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  };
  return (signal) =>
    custodyInboxLoop({
      sodium: o.sodium,
      keystore: o.keystore,
      relayFor: (url) => {
        let r = o.relays.get(url);
        if (!r) o.relays.set(url, (r = new RelayClient({ url })));
        return r;
      },
      log: o.log,
      decide,
      signal,
    });
}

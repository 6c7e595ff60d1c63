/**
 * The one line a push notification shows for a request (issue 14, docs/WEB.md "Push"): the
 * card's own headline, never more than the card would show ("SSH login as ada@prod-1",
 * "Git commit: Fix the parser"), and never less of its warning: a login whose host the card
 * would mark "host NOT verified" says so here too, since the notification is what the user reads
 * first. Pure: the service worker calls it on an opened envelope. Nothing here is trusted for a
 * decision; the request is checked again, in full, by the card.
 */
import { decodeBase64url } from '../protocol/base64url.js';
import type { RequestBody } from '../protocol/messages.js';
import { parseGitObject } from '../protocol/ssh/git-object.js';
import { hostVerification } from '../protocol/ssh/host-verification.js';
import { parseSshSignDataForKey } from '../protocol/ssh/sign-data-guard.js';
import { cleanLine } from './sign-review.js';
import { checkedBinds, pinName } from './ssh-sign-core.js';

/** A notification title is one short line; the card has room for the rest. */
const MAX_TITLE_CHARS = 120;

export async function requestNoticeTitle(body: RequestBody, computerName: string): Promise<string> {
  return cut(cleanLine(await rawTitle(body, computerName)));
}

async function rawTitle(body: RequestBody, computerName: string): Promise<string> {
  switch (body.kind) {
    case 'ssh_sign': {
      try {
        const parsed = parseSshSignDataForKey(decodeBase64url(body.key), decodeBase64url(body.data));
        if (parsed.kind !== 'userauth') return 'SSH signature';
        // The card's verdict, by the same checks (ssh-sign-core.ts): every bind's host signature
        // (a bind that fails throws: the card refuses it, and the catch below names no host),
        // then whether the last bind vouches for this login (docs/AGENT.md "Verified hosts").
        const binds = await checkedBinds(body.binds);
        const verified = hostVerification(parsed.userauth, binds).verified;
        const user = parsed.userauth.user;
        const host = body.host_hint ? pinName(body.host_hint.host, body.host_hint.port) : undefined;
        if (host) return verified ? `SSH login as ${user}@${host}` : `SSH login as ${user}@${host} (host NOT verified)`;
        return verified ? `SSH login as ${user} (host not named)` : `SSH login as ${user} (host not named, NOT verified)`;
      } catch {
        return 'SSH signature request';
      }
    }
    case 'sign_message': {
      if (body.namespace === 'git') {
        try {
          const git = parseGitObject(decodeBase64url(body.message));
          const subject = git.message.split('\n').find((l) => l.trim() !== '') ?? '';
          return `Git ${git.kind}: ${subject.trim() || '(no message)'}`;
        } catch {
          return 'Git signature';
        }
      }
      return `Signature in namespace "${body.namespace}"`;
    }
    case 'pair_hello':
      return `Pairing with ${computerName}`;
    case 'unpair':
      return `${computerName} unpaired this device`;
    default:
      // `me` (`latch status`, `latch doctor`; the agent's own key-list refresh sends no push,
      // PROTOCOL.md §3.9) and anything newer: no card, but every push must show a notification
      // (userVisibleOnly), so say who knocked.
      return `${computerName} is asking for this authenticator`;
  }
}

function cut(line: string): string {
  return line.length <= MAX_TITLE_CHARS ? line : `${line.slice(0, MAX_TITLE_CHARS - 1)}…`;
}

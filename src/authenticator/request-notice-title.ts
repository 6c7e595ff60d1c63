/**
 * The one line a push notification shows for a request (issue 14, docs/WEB.md "Push"): the
 * card's own headline, never more than the card would show ("SSH login as ada@prod-1",
 * "Git commit: Fix the parser"). Pure: the service worker calls it on an opened envelope.
 * Nothing here is trusted for a decision; the request is checked again, in full, by the card.
 */
import { decodeBase64url } from '../protocol/base64url.js';
import type { RequestBody } from '../protocol/messages.js';
import { parseGitObject } from '../protocol/ssh/git-object.js';
import { parseSshSignDataForKey } from '../protocol/ssh/sign-data-guard.js';
import { cleanLine } from './sign-review.js';
import { pinName } from './ssh-sign-core.js';

/** A notification title is one short line; the card has room for the rest. */
const MAX_TITLE_CHARS = 120;

export function requestNoticeTitle(body: RequestBody, computerName: string): string {
  return cut(cleanLine(rawTitle(body, computerName)));
}

function rawTitle(body: RequestBody, computerName: string): string {
  switch (body.kind) {
    case 'ssh_sign': {
      try {
        const parsed = parseSshSignDataForKey(decodeBase64url(body.key), decodeBase64url(body.data));
        if (parsed.kind !== 'userauth') return 'SSH signature';
        const host = body.host_hint ? pinName(body.host_hint.host, body.host_hint.port) : undefined;
        return host ? `SSH login as ${parsed.userauth.user}@${host}` : `SSH login as ${parsed.userauth.user} (host not named)`;
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
      // `me` (the agent refreshing its key list) and anything newer: no card, but every push
      // must show a notification (userVisibleOnly), so say who knocked.
      return `${computerName} is asking for this authenticator`;
  }
}

function cut(line: string): string {
  return line.length <= MAX_TITLE_CHARS ? line : `${line.slice(0, MAX_TITLE_CHARS - 1)}…`;
}

/**
 * Which SSH user names the authenticator will sign a login for (issue 16 §4). A user name no SSH
 * server would accept can only be there to mislead the card: 400 no-break spaces after
 * "deploy@prod.example.com" put a fake host in the headline. Pure.
 *
 * The rule: POSIX's portable user name characters (POSIX.1-2017 §3.437 and §3.282, the portable
 * filename character set: A-Z a-z 0-9 . _ -, not starting with '-'), as `useradd` and OpenSSH's
 * sshd (through getpwnam) accept them; plus '@' and '\' for directory accounts (SSSD's
 * user@realm, Windows OpenSSH's DOMAIN\user) and a trailing '$' (Samba machine accounts); at
 * most 256 characters. Spaces, controls and any other character are refused.
 */
import { LatchError } from '../util/latch-error.js';

const SSH_USER = /^(?!-)[A-Za-z0-9._@\\-]{1,255}\$?$/;

export const SSH_USER_RULE = "letters, digits, '.', '_', '-' (POSIX portable user names, not starting with '-'), '@' and '\\' for directory accounts, a trailing '$'; at most 256 characters";

/** Throws `bad_user_name` for a name no SSH server would accept. */
export function checkSshUserName(user: string): void {
  if (!SSH_USER.test(user)) throw new LatchError('bad_user_name', `refusing to sign: the SSH user name is not one an SSH server accepts (${SSH_USER_RULE})`);
}

/**
 * `latch login --email E [--code C]`: log in to the custody server with its development
 * issuer (a one-time code by mail; the default mailer writes DATA/outbox/<email>.txt), or
 * `--id-token JWT` from an OpenID Connect issuer the server accepts. The device key signs the
 * login challenge, so the tokens are bound to this device.
 */
import { createInterface } from 'node:readline';
import { parse, usageError } from '../cli-context.js';
import { LatchError } from '../../util/latch-error.js';
import { COMMON_FLAGS, openSession, printResult } from './account-session.js';

const USAGE = 'latch login (--email EMAIL [--code CODE] | --id-token JWT) [--server URL] [--json]';

export async function login(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON_FLAGS, email: { type: 'string' }, code: { type: 'string' }, 'id-token': { type: 'string' } }, USAGE);
  if ((values.email === undefined) === (values['id-token'] === undefined)) throw usageError('give --email or --id-token', USAGE);
  if (values.code !== undefined && !/^[0-9]{6}$/.test(values.code)) throw usageError('--code is the 6-digit code from the mail', USAGE);
  const s = await openSession({ ...(values.server !== undefined ? { server: values.server } : {}), create: true });
  const done = async (t: { account?: string; refresh_token: string }, email: string): Promise<number> => {
    await s.save((c) => {
      c.email = email;
      c.refreshToken = t.refresh_token;
      delete c.pendingLogin;
    });
    printResult(s, values.json, { email, device_public_key: s.device.publicKey, account: t.account ?? null, server: s.client.server }, `Logged in as ${email} on ${s.client.server}${t.account ? ` (account ${t.account})` : ''}.`);
    return 0;
  };
  if (values['id-token'] !== undefined) {
    const t = await s.client.loginWithIdToken(values['id-token'], s.device);
    const claims = JSON.parse(Buffer.from(values['id-token'].split('.')[1] ?? '', 'base64url').toString('utf8')) as { email?: string };
    return done(t, String(claims.email ?? ''));
  }
  const email = values.email!.toLowerCase();
  let code = values.code;
  let pending = s.custody.pendingLogin;
  if (code === undefined || pending?.email !== email) {
    if (code !== undefined) throw new LatchError('no_pending_login', `no login code was asked for ${email} from this authenticator: run \`latch login --email ${email}\` first`);
    const { challenge } = await s.client.loginStart(email);
    pending = { email, challenge };
    await s.save((c) => (c.pendingLogin = pending));
    s.cli.err(`A one-time code was sent to ${email}.`);
    if (!process.stdin.isTTY) {
      printResult(s, values.json, { status: 'code_sent', email }, `Complete with: latch login --email ${email} --code CODE`);
      return 0;
    }
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    code = (await new Promise<string>((r) => rl.question('Code: ', r))).trim();
    rl.close();
  }
  const t = await s.client.loginComplete(email, code, pending.challenge, s.device);
  return done(t, email);
}

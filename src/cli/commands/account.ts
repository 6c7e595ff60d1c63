/** `latch account <create|show|transfer|join|revoke|recover|self-custody|link|unlink|redeem>`: hybrid custody (issue 4). */
import { usageError } from '../cli-context.js';

const USAGE = 'latch account <create|show|transfer|join|revoke|recover|self-custody|link|unlink|redeem> [options]   (each takes --json and --server URL)';

const SUB: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  create: async () => (await import('./account-create.js')).accountCreate,
  show: async () => (await import('./account-show.js')).accountShow,
  transfer: async () => (await import('./account-transfer.js')).accountTransfer,
  join: async () => (await import('./account-join.js')).accountJoin,
  revoke: async () => (await import('./account-revoke.js')).accountRevoke,
  recover: async () => (await import('./account-recover.js')).accountRecover,
  'self-custody': async () => (await import('./account-self-custody.js')).accountSelfCustody,
  link: async () => (await import('./account-link.js')).accountLink,
  unlink: async () => (await import('./account-link.js')).accountUnlink,
  redeem: async () => (await import('./account-redeem.js')).accountRedeem,
};

export async function account(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const sub = name === undefined ? undefined : SUB[name];
  if (!sub) throw usageError(name === undefined ? 'missing subcommand' : `unknown subcommand "${name}"`, USAGE);
  return (await sub())(rest);
}

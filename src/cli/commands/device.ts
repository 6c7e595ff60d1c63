/** `latch device <init|pair|run>`: the headless authenticator. */
import { usageError } from '../cli-context.js';

const USAGE = 'latch device <init|pair|run|key|policy|host|computer|passkey> [options]';

const SUB: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  init: async () => (await import('./device-init.js')).deviceInit,
  pair: async () => (await import('./device-pair.js')).devicePair,
  run: async () => (await import('./device-run.js')).deviceRun,
  key: async () => (await import('./device-key.js')).deviceKey,
  policy: async () => (await import('./device-policy.js')).devicePolicy,
  host: async () => (await import('./device-host.js')).deviceHost,
  computer: async () => (await import('./device-computer.js')).deviceComputer,
  passkey: async () => (await import('./device-passkey.js')).devicePasskey,
};

export async function device(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const sub = name === undefined ? undefined : SUB[name];
  if (!sub) throw usageError(name === undefined ? 'missing subcommand' : `unknown subcommand "${name}"`, USAGE);
  return (await sub())(rest);
}

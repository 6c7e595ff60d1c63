/**
 * What every subcommand gets: strict argument parsing, the paths, and output helpers.
 * Status and progress go to stderr; stdout carries only what a script reads (links, JSON).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LatchError } from '../util/latch-error.js';
import { latchPaths, type LatchPaths } from '../util/latch-paths.js';
import { DEFAULT_RELAY_URL } from '../protocol/protocol-constants.js';
import { canonicalRelayUrls } from '../protocol/relay-url-list.js';

export interface Cli {
  readonly paths: LatchPaths;
  out(line: string): void;
  err(line: string): void;
}

export function defaultCli(): Cli {
  return {
    paths: latchPaths(),
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
  };
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs in strict mode, with its errors turned into a usage error. */
export function parse<const O extends Options>(argv: string[], options: O, usage: string, allowPositionals = 0) {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested(usage);
  const config = { args: argv, options, strict: true as const, allowPositionals: true as const };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    const message = (e as Error).message.replace(/\. To specify.*$/s, '');
    // A value that begins with "-" (a base64url credential id does, 1 time in 64) reads as an
    // option; the POSIX way out is "--", which parseArgs honours. Node's own hint is cut above
    // because it quotes only the first letters of the argument. Ours is for a single dash only:
    // "--sever" is a mistyped option, not an argument.
    const code = (e as { code?: string }).code;
    const dash = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && allowPositionals > 0 && /Unknown option '-[^-]/.test(message);
    // The same for an option's value ("--cancel -Xq9..."): parseArgs cannot tell it from a
    // forgotten value, and the POSIX-style way to give it is "--cancel=-Xq9...".
    const option = code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? /^Option '(--[a-z-]+)' argument is ambiguous/.exec(message)?.[1] : undefined;
    if (option !== undefined) throw usageError(`${option} needs a value; a value that begins with "-" is written ${option}=VALUE`, usage);
    throw usageError(dash ? `${message}; an argument that begins with "-" goes after "--"` : message, usage);
  }
  if (parsed.positionals.length > allowPositionals) throw usageError(`unexpected argument "${parsed.positionals[allowPositionals]}"`, usage);
  return parsed;
}

export class HelpRequested extends Error {
  constructor(readonly usage: string) {
    super('help');
  }
}

export function usageError(message: string, usage: string): LatchError {
  return new LatchError('usage', `${message}\nusage: ${usage}`);
}

/** `--server URL[,URL...]` (or LATCH_SERVER): one relay URL, or the nodes of one relay (issue 10), canonical. */
export function relayUrlFrom(value: string | undefined): string {
  return canonicalRelayUrls(value ?? process.env.LATCH_SERVER ?? DEFAULT_RELAY_URL);
}

export function secondsFrom(value: string | undefined, fallback: number, what: string, usage: string): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]{1,7}$/.test(value) || Number(value) < 1) throw usageError(`${what} must be a whole number of seconds (1 or more)`, usage);
  return Number(value);
}

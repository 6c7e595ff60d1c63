/**
 * Standalone relay server entry:
 *   node dist/src/server/server-main.js --listen 127.0.0.1:0 --data DIR
 *     [--ttl SECONDS] [--max-message-bytes N] [--rate-limit PER_SECOND/BURST | --rate-limit off]
 * Prints "listening on http://HOST:PORT" on stdout once it accepts connections; logs go to stderr.
 */
import { startServer, type StartServerOptions } from './start-server.js';

function usage(message: string): never {
  process.stderr.write(
    `latch relay: ${message}\nusage: server-main --listen HOST:PORT --data DIR [--ttl S] [--max-message-bytes N] [--rate-limit N/BURST|off]\n`,
  );
  process.exit(2);
}

function positiveInt(text: string | undefined, what: string): number {
  if (text === undefined || !/^[1-9][0-9]{0,12}$/.test(text)) usage(`${what} must be a positive integer`);
  return Number(text);
}

function parseServerArgs(argv: readonly string[]): StartServerOptions {
  let listen: string | undefined;
  let dataDir: string | undefined;
  const opts: Partial<StartServerOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    i++;
    switch (flag) {
      case '--listen':
        listen = value;
        break;
      case '--data':
        dataDir = value;
        break;
      case '--ttl':
        opts.ttlSeconds = positiveInt(value, '--ttl');
        break;
      case '--max-message-bytes':
        opts.maxMessageBytes = positiveInt(value, '--max-message-bytes');
        break;
      case '--rate-limit': {
        if (value === 'off') {
          opts.rateLimit = false;
          break;
        }
        const m = /^([0-9]+(?:\.[0-9]+)?)\/([1-9][0-9]*)$/.exec(value ?? '');
        if (!m || !(Number(m[1]) > 0)) usage('--rate-limit must be PER_SECOND/BURST or off');
        opts.rateLimit = { perSecond: Number(m[1]), burst: Number(m[2]) };
        break;
      }
      default:
        usage(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  if (listen === undefined) usage('--listen HOST:PORT is required');
  if (dataDir === undefined) usage('--data DIR is required');
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) usage('--listen must be HOST:PORT');
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { ...opts, host, port: Number(m[2]), dataDir };
}

async function main(): Promise<void> {
  const opts = parseServerArgs(process.argv.slice(2));
  opts.log = (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const server = await startServer(opts);
  process.stdout.write(`listening on ${server.url}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`latch relay: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

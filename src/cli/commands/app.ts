/**
 * `latch app serve`: the web authenticator served from this machine, apart from any relay
 * (issue 16 §1). Whoever serves the page's code can make it sign anything, so a user who does not
 * want to trust the relay operator serves the page themselves (this, or a static copy of dist/web
 * on their own host) and pairs it with relays on other origins. docs/WEB.md "Who the page trusts".
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { defaultCli, parse, usageError } from '../cli-context.js';
import { createWebAppStatic, DEFAULT_WEB_ROOT, WEB_APP_PREFIX } from '../../server/web-app-static.js';
import { parseListen } from './server.js';

const USAGE = 'latch app serve [--listen HOST:PORT] [--dir DIR] [--relay URL]...';

export async function app(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'serve') throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  const cli = defaultCli();
  const { values } = parse(rest, { listen: { type: 'string' }, dir: { type: 'string' }, relay: { type: 'string', multiple: true } }, USAGE);
  const { host, port } = parseListen(values.listen ?? '127.0.0.1:8471');
  const dir = resolve(values.dir ?? DEFAULT_WEB_ROOT);
  const relays = values.relay;
  const web = createWebAppStatic({ root: dir, ...(relays?.length ? { relays } : {}) });
  const server = createServer((req, res) => {
    if (web.handle(req, res)) return;
    const body = (req.url ?? '/') === '/' ? `the web authenticator is at ${WEB_APP_PREFIX}` : 'not found';
    res.writeHead((req.url ?? '/') === '/' ? 308 : 404, { 'Content-Type': 'text/plain; charset=utf-8', Location: WEB_APP_PREFIX, 'X-Content-Type-Options': 'nosniff' });
    res.end(body);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
  cli.out(`latch app serving the web authenticator at ${url}${WEB_APP_PREFIX} (files from ${dir})`);
  cli.err(relays?.length ? `The page may connect to its own origin and: ${relays.join(', ')}` : 'The page may connect to any relay (give --relay URL to allow only yours).');
  // WebCrypto and the camera need a secure context: HTTPS, or http on localhost.
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) cli.err('Browsers run the app only over HTTPS or on localhost: put this behind an HTTPS proxy for other machines.');
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  await new Promise<void>((done) => server.close(() => done()));
  return 0;
}

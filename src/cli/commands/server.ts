/**
 * `latch server`: the relay, custody and the web app on one port; plain HTTP (behind a
 * reverse proxy, deploy/) or HTTPS itself (--tls-cert/--tls-key, reloaded on SIGHUP).
 */
import { isPushServiceHostSpec } from '../../relay/push-service-hosts.js';
import { mkdirSync } from 'node:fs';
import { defaultCli, parse, usageError, secondsFrom } from '../cli-context.js';
import { startServer } from '../../server/start-server.js';
import { CUSTODY_FLAGS, custodyOptionsFrom } from './server-custody-flags.js';
import { parseTrustedProxies } from '../../util/client-address.js';
import { validateRelayUrl } from '../../protocol/pairing-link.js';
import { isLatchError } from '../../util/latch-error.js';
import { parseNatsServers } from '../../relay/jetstream-relay-store.js';
import type { LoadedTls } from '../../server/tls-files.js';

const USAGE =
  'latch server [--listen HOST:PORT] [--data DIR] [--ttl SECONDS] [--max-message-bytes N] [--rate-limit PER_SECOND[/BURST]|off]\n' +
  '             [--trusted-proxy ADDRESS]... [--public-url URL] [--tls-cert FILE --tls-key FILE] [--vapid-subject mailto:...|https://...|--no-push] [--push-service HOST[:PORT]]...\n' +
  '             [--relay-store nats://HOST:PORT[,nats://HOST:PORT...] [--relay-replicas N]]\n' +
  '             [--ledger embedded|flow-testnet|flow-mainnet|URL] [--recovery-delay SECONDS] [--tx-limit FLOW] [--daily-limit FLOW]\n' +
  '             [--oidc-issuer ISSUER_URL=AUDIENCE]... [--inbox-relay URL]... [--custody-db postgres://...] [--no-custody]\n' +
  '       latch server audit verify [--data DIR] [--custody-db postgres://...] [--json]\n' +
  '  --custody-db (or env LATCH_CUSTODY_DB): all custody state and the embedded ledger in PostgreSQL,\n' +
  '  shared by every node (same LATCH_MASTER_KEY on each); default: SQLite files in the data dir';

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw usageError(`--listen must be HOST:PORT, got "${text}"`, USAGE);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export async function server(argv: string[]): Promise<number> {
  if (argv[0] === 'audit') return (await import('./server-audit.js')).serverAudit(argv.slice(1));
  const cli = defaultCli();
  const { values } = parse(
    argv,
    {
      listen: { type: 'string' },
      data: { type: 'string' },
      ttl: { type: 'string' },
      'max-message-bytes': { type: 'string' },
      'rate-limit': { type: 'string' },
      'trusted-proxy': { type: 'string', multiple: true },
      'public-url': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'relay-store': { type: 'string' },
      'relay-replicas': { type: 'string' },
      'vapid-subject': { type: 'string' },
      'push-service': { type: 'string', multiple: true },
      'no-push': { type: 'boolean' },
      ...CUSTODY_FLAGS,
    },
    USAGE,
  );
  const { host, port } = parseListen(values.listen ?? '127.0.0.1:8470');
  const dataDir = values.data ?? cli.paths.serverDataDir;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const maxBytes = values['max-message-bytes'];
  if (maxBytes !== undefined && !/^[0-9]{1,9}$/.test(maxBytes)) throw usageError('--max-message-bytes must be a number', USAGE);
  const rl = values['rate-limit'];
  const rlm = rl === undefined || rl === 'off' ? undefined : /^([1-9][0-9]{0,6})(?:\/([1-9][0-9]{0,7}))?$/.exec(rl);
  if (rl !== undefined && rl !== 'off' && !rlm) throw usageError('--rate-limit must be PER_SECOND[/BURST] (whole numbers), or off', USAGE);
  let trustedProxies: Set<string>;
  try {
    trustedProxies = parseTrustedProxies(values['trusted-proxy'] ?? []);
  } catch (e) {
    throw usageError(`--trusted-proxy takes the proxy's IP address: ${(e as Error).message}`, USAGE);
  }
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) throw usageError('--tls-cert and --tls-key go together', USAGE);
  let publicUrl: string | undefined;
  if (values['public-url'] !== undefined) {
    try {
      publicUrl = validateRelayUrl(values['public-url']);
    } catch (e) {
      throw usageError(`--public-url: ${(e as Error).message}`, USAGE);
    }
  }
  let relayStore: { nats: string[]; replicas?: number } | undefined;
  if (values['relay-store'] !== undefined) {
    try {
      relayStore = { nats: parseNatsServers(values['relay-store']) };
    } catch (e) {
      throw usageError((e as Error).message, USAGE);
    }
  }
  const replicas = values['relay-replicas'];
  if (replicas !== undefined) {
    if (relayStore === undefined) throw usageError('--relay-replicas goes with --relay-store', USAGE);
    if (!/^[1-5]$/.test(replicas)) throw usageError('--relay-replicas must be 1 to 5', USAGE);
    relayStore.replicas = Number(replicas);
  }
  const vapidSubject = values['vapid-subject'];
  if (vapidSubject !== undefined) {
    // RFC 8292 §2.1: a contact the push service can use, mailto: or https:.
    if (!/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/.test(vapidSubject)) throw usageError('--vapid-subject must be mailto:ADDRESS or an https:// URL', USAGE);
    if (values['no-push']) throw usageError('--vapid-subject and --no-push do not go together', USAGE);
  }
  const pushServices = (values['push-service'] ?? []).map((h) => h.toLowerCase());
  for (const h of pushServices) {
    if (!isPushServiceHostSpec(h)) throw usageError(`--push-service takes a host name or HOST:PORT (a leading "." for a whole domain), not "${h}"`, USAGE);
  }
  const log = (line: string): void => cli.err(`${new Date().toISOString()} ${line}`);
  const running = await startServer({
    trustedProxies,
    host,
    port,
    dataDir,
    ttlSeconds: secondsFrom(values.ttl, 48 * 3600, '--ttl', USAGE),
    ...(maxBytes !== undefined ? { maxMessageBytes: Number(maxBytes) } : {}),
    ...(rl === 'off' ? { rateLimit: false as const } : rlm ? { rateLimit: { perSecond: Number(rlm[1]), burst: Number(rlm[2] ?? Number(rlm[1]) * 10) } } : {}),
    log,
    custody: custodyOptionsFrom(values, USAGE),
    ...(certFile !== undefined && keyFile !== undefined ? { tls: { certFile, keyFile } } : {}),
    ...(publicUrl !== undefined ? { publicUrl } : {}),
    ...(relayStore !== undefined ? { relayStore } : {}),
    ...(pushServices.length ? { pushServices } : {}),
    ...(values['no-push'] ? { vapidSubject: false as const } : vapidSubject !== undefined ? { vapidSubject } : {}),
  });
  cli.out(`latch server listening on ${running.url} (data in ${dataDir})`);
  if (relayStore !== undefined) log(`relay queues in NATS JetStream at ${relayStore.nats.join(',')}`);
  if (running.tls) log(`TLS certificate ${describeCert(running.tls)}; SIGHUP reloads ${certFile} and ${keyFile}`);
  if (publicUrl !== undefined) log(`pairing links and custody notices name this server as ${publicUrl}`);
  // SIGHUP: certificate renewal (certbot/acme.sh deploy hooks, systemd ExecReload) without a restart.
  const reload = (): void => {
    if (!running.tls) return log('SIGHUP: no TLS certificate to reload (plain HTTP)');
    try {
      log(`SIGHUP: now serving TLS certificate ${describeCert(running.reloadTls())}`);
    } catch (e) {
      log(`SIGHUP: kept the old TLS certificate: ${isLatchError(e) ? `${e.message} [${e.code}]` : String(e)}`);
    }
  };
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGHUP', reload);
  await running.close();
  return 0;
}

function describeCert(tls: LoadedTls): string {
  return `SHA-256 ${tls.fingerprint256} (valid until ${tls.validTo})`;
}

/**
 * `latch browser host` (the native-messaging host the extension starts; docs/BROWSER.md) and
 * `latch browser install [--browser chromium|chrome|brave|edge] [--user-data-dir DIR] [--undo] [--yes]`.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { defaultCli, parse, usageError } from '../cli-context.js';
import { LatchError } from '../../util/latch-error.js';
import { LATCH_CLI_PATH } from './browser-cli-path.js';

const USAGE = 'latch browser host | latch browser install [--browser chromium|chrome|brave|edge] [--user-data-dir DIR] [--undo] [--yes] | latch browser exclude add|remove|list [SITE]';

export async function browser(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'host') return host();
  if (sub === 'install') return install(rest);
  if (sub === 'exclude') return (await import('./browser-exclude.js')).browserExclude(rest);
  throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
}

async function host(): Promise<number> {
  // Chrome passes the calling extension's origin as an argument; the manifest's allowed_origins already limits who may start us.
  const cli = defaultCli();
  const { sodiumReady } = await import('../../protocol/sodium.js');
  const { RelayClient } = await import('../../transport/relay-client.js');
  const { AuthenticatorClient } = await import('../../computer/authenticator-client.js');
  const { loadComputerState, requirePairing } = await import('../../computer/computer-state.js');
  const { runBrowserHost } = await import('../../browser/browser-host.js');
  const { excludedSitesPath, fileExcludedSites } = await import('../../browser/excluded-sites.js');
  const excluded = fileExcludedSites(excludedSitesPath(cli.paths.home));
  const { callingBrowserName } = await import('../../browser/extension-id.js');
  const log = (line: string): void => cli.err(`[browser host] ${line}`);
  const sodium = await sodiumReady();
  let client: InstanceType<typeof AuthenticatorClient> | undefined;
  await runBrowserHost({
    input: process.stdin,
    write: (bytes) => process.stdout.write(bytes),
    transport: async () => {
      if (!client) {
        const pairing = requirePairing(loadComputerState(cli.paths.computerFile));
        client = new AuthenticatorClient(sodium, new RelayClient({ url: pairing.relayUrl }), pairing, log);
      }
      return client;
    },
    browser: callingBrowserName(),
    log,
    // Read on every request, so `latch browser exclude` applies without restarting the host.
    excluded: (origin) => excluded.covers(origin),
  });
  client?.close();
  return 0;
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new LatchError('confirmation_required', 'not on a terminal: pass --yes to confirm');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function install(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values } = parse(argv, { browser: { type: 'string' }, 'user-data-dir': { type: 'string' }, undo: { type: 'boolean' }, yes: { type: 'boolean' } }, USAGE);
  const { BROWSERS, NATIVE_HOST_NAME, hostManifestDir, shippedExtensionId, EXTENSION_DIR } = await import('../../browser/extension-id.js');
  const kind = values.browser;
  if (kind !== undefined && !(BROWSERS as readonly string[]).includes(kind)) throw usageError(`--browser must be one of ${BROWSERS.join(', ')}`, USAGE);
  const browsers = kind !== undefined ? [kind as (typeof BROWSERS)[number]] : values['user-data-dir'] !== undefined ? (['chromium'] as const) : BROWSERS;
  const dirs = [...new Set(browsers.map((b) => hostManifestDir(b, values['user-data-dir'])))];
  const manifests = dirs.map((d) => join(d, `${NATIVE_HOST_NAME}.json`));
  const id = shippedExtensionId();
  if (values.undo) {
    if (!values.yes && !(await confirm(`Remove the Latch native-messaging host from:\n  ${manifests.join('\n  ')}\n?`))) return 1;
    for (const m of manifests) if (existsSync(m)) {
      rmSync(m);
      cli.err(`removed ${m}`);
    }
    return 0;
  }
  // The manifest names an executable without arguments: a small script that runs this latch
  // with the LATCH_HOME in force now (the browser starts it with its own environment).
  const script = join(cli.paths.home, 'browser', 'latch-browser-host');
  if (!values.yes && !(await confirm(`Install the Latch native-messaging host (${script}) for extension ${id} into:\n  ${manifests.join('\n  ')}\n?`))) return 1;
  mkdirSync(join(cli.paths.home, 'browser'), { recursive: true, mode: 0o700 });
  const home = process.env.LATCH_HOME ? `export LATCH_HOME=${shellQuote(process.env.LATCH_HOME)}\n` : '';
  writeFileSync(script, `#!/bin/sh\n${home}exec ${shellQuote(process.execPath)} ${shellQuote(LATCH_CLI_PATH)} browser host "$@"\n`, { mode: 0o755 });
  chmodSync(script, 0o755);
  const manifest = { name: NATIVE_HOST_NAME, description: 'Latch: passkeys held on your authenticator', path: script, type: 'stdio', allowed_origins: [`chrome-extension://${id}/`] };
  for (const m of manifests) {
    mkdirSync(join(m, '..'), { recursive: true });
    writeFileSync(m, JSON.stringify(manifest, null, 2) + '\n');
    cli.err(`wrote ${m}`);
  }
  cli.err(`Load the extension from ${EXTENSION_DIR} (chrome://extensions, Developer mode, Load unpacked).`);
  cli.out(`extension id: ${id}`);
  return 0;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

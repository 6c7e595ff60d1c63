/** `latch pair`: show a QR code and link, wait for an authenticator, compare check codes. */
import { hostname } from 'node:os';
import QRCode from 'qrcode';
import { defaultCli, parse, relayUrlFrom, secondsFrom } from '../cli-context.js';
import { checkRelay } from '../relay-health.js';
import { isLoopbackUrl } from '../loopback-url.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { TIMEOUT_PAIR_SECONDS } from '../../protocol/protocol-constants.js';
import { validateName } from '../../protocol/pairing-link.js';
import { RelayClient } from '../../transport/relay-client.js';
import { startPairing, completePairing } from '../../computer/pair-with-authenticator.js';
import { loadComputerState, updateComputerState } from '../../computer/computer-state.js';
import { requestUnpair } from '../../computer/unpair-authenticator.js';

/** How long `latch pair` waits for the replaced authenticator to confirm it forgot the old pairing. */
const REPLACED_UNPAIR_SECONDS = 5;

const USAGE = 'latch pair [--server URL[,URL...]] [--uri-only] [--timeout SECONDS] [--name NAME] [--json]';

export async function pair(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values } = parse(
    argv,
    { server: { type: 'string' }, 'uri-only': { type: 'boolean' }, timeout: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } },
    USAGE,
  );
  const relayUrl = relayUrlFrom(values.server);
  const timeoutSeconds = secondsFrom(values.timeout, TIMEOUT_PAIR_SECONDS, '--timeout', USAGE);
  const name = validateName(values.name ?? (hostname().slice(0, 64) || 'computer'), 'computer name');
  const state = loadComputerState(cli.paths.computerFile);
  // The link carries the URL the relay says authenticators reach it at (`latch server
  // --public-url`); this computer keeps using the one it was given. Given several nodes of one
  // relay (issue 10), the link carries them all, as given: one node's public URL is not the others'.
  const health = await checkRelay(relayUrl);
  const publicUrl = relayUrl.includes(',') ? undefined : health.publicUrl;

  const sodium = await sodiumReady();
  const pending = startPairing(sodium, { relayUrl, name, ...(publicUrl !== undefined ? { linkRelayUrl: publicUrl } : {}) });
  if (values['uri-only']) {
    cli.out(pending.linkText);
  } else {
    cli.out(await QRCode.toString(pending.linkText, { type: 'terminal', small: true, errorCorrectionLevel: 'M' }));
    cli.out(pending.linkText);
  }
  if (pending.link.relayUrl.split(',').some((u) => isLoopbackUrl(u))) {
    cli.err(
      `Warning: the link names the relay as ${pending.link.relayUrl}, which only this computer reaches: ` +
        'a phone cannot use it. For a phone: --server https://..., or `latch server --public-url URL` (docs/DEPLOY.md).',
    );
  }
  if (state.pairing) cli.err(`Note: this replaces the pairing with "${state.pairing.deviceName}".`);
  cli.err(`Scan the code with your authenticator, or run there: latch device pair '<link above>'`);
  cli.err(`Waiting up to ${timeoutSeconds} s for your authenticator...`);

  const relay = new RelayClient({ url: relayUrl });
  const paired = await completePairing(sodium, pending, {
    relay,
    timeoutSeconds,
    log: (line) => cli.err(`  ${line}`),
    onOffer: (code) => cli.err(`Check code: ${code}  (your authenticator must show the same code)`),
  });
  const replaced = await updateComputerState(cli.paths.computerFile, (s) => {
    const old = s.pairing;
    s.pairing = paired;
    return old;
  });
  if (replaced) {
    // The old authenticator must not keep a pairing (and timed approvals) for this computer.
    // Best effort and short: if it is offline, the request waits on the relay for it (§5.3).
    const r = await requestUnpair(sodium, replaced, REPLACED_UNPAIR_SECONDS);
    cli.err(r.answered ? `"${replaced.deviceName}" forgot the pairing this one replaces.` : `"${replaced.deviceName}" did not confirm it forgot the old pairing (${r.reason}); remove this computer there if it still lists it.`);
  }
  if (values.json) {
    cli.out(JSON.stringify({ paired: true, device: { name: paired.deviceName, id: paired.deviceId, ssh_keys: paired.sshKeys } }));
  }
  cli.err(`Paired with "${paired.deviceName}".`);
  for (const k of paired.sshKeys) cli.err(`  SSH key: ${k.public_key}`);
  return 0;
}

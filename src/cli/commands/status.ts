/** `latch status`: the paired authenticator, its keys, and whether it answers right now. */
import { defaultCli, parse } from '../cli-context.js';
import { sodiumReady } from '../../protocol/sodium.js';
import { TIMEOUT_ME_SECONDS } from '../../protocol/protocol-constants.js';
import { nowSeconds } from '../../protocol/messages.js';
import { RelayClient } from '../../transport/relay-client.js';
import { AuthenticatorClient } from '../../computer/authenticator-client.js';
import { loadComputerState, updateComputerState, samePairing } from '../../computer/computer-state.js';
import { isLatchError } from '../../util/latch-error.js';

const USAGE = 'latch status [--json]';

export async function status(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values } = parse(argv, { json: { type: 'boolean' } }, USAGE);
  const state = loadComputerState(cli.paths.computerFile);
  const p = state.pairing;
  if (!p) {
    if (values.json) cli.out(JSON.stringify({ paired: false }));
    else cli.out('Not paired. Run `latch pair` and scan the code with your authenticator.');
    return 1;
  }
  const sodium = await sodiumReady();
  const relay = new RelayClient({ url: p.relayUrl });
  const client = new AuthenticatorClient(sodium, relay, p, () => undefined);
  let reachable = false;
  let problem: string | undefined;
  try {
    const info = await client.request({ kind: 'me' }, { timeoutSeconds: TIMEOUT_ME_SECONDS });
    reachable = true;
    p.deviceName = info.name;
    p.sshKeys = info.ssh_keys;
    p.lastSeen = nowSeconds();
    await updateComputerState(cli.paths.computerFile, (s) => {
      if (!samePairing(s.pairing, p)) return; // re-paired meanwhile: leave the new pairing alone
      s.pairing.deviceName = info.name;
      s.pairing.sshKeys = info.ssh_keys;
      s.pairing.lastSeen = p.lastSeen;
    });
  } catch (e) {
    problem = isLatchError(e) ? e.message : String(e);
  } finally {
    client.close();
  }
  // Issue 12: the relay answers a proof from a wrong clock with the same 401 as any other bad
  // proof; its Date header tells us whether this computer's clock is the reason.
  let clockOff: string | undefined;
  let clockOffsetSeconds: number | undefined;
  if (!reachable) {
    const { checkRelay, clockOffText } = await import('../relay-health.js');
    clockOffsetSeconds = await checkRelay(p.relayUrl).then((h) => h.clockOffsetSeconds, () => undefined);
    clockOff = clockOffText(clockOffsetSeconds);
  }
  if (values.json) {
    cli.out(
      JSON.stringify({
        paired: true,
        relay: p.relayUrl,
        device: {
          name: p.deviceName,
          id: p.deviceId,
          ssh_keys: p.sshKeys,
          ssh_public_key: p.sshKeys[0]?.public_key ?? null,
          reachable,
          last_seen: p.lastSeen ?? null,
          paired_at: p.pairedAt,
          ...(problem ? { problem } : {}),
          ...(clockOff ? { clock_offset_seconds: clockOffsetSeconds } : {}),
        },
      }),
    );
    return 0;
  }
  cli.out(`Paired with "${p.deviceName}" via ${p.relayUrl}`);
  const lastSeen = `Last seen: ${p.lastSeen ? new Date(p.lastSeen * 1000).toISOString() : 'never'}.`;
  if (reachable) cli.out('Reachable now.');
  else if (clockOff) cli.out(`Not reachable now: ${clockOff}. Set the clock (e.g. \`timedatectl set-ntp true\`) and try again. ${lastSeen}`);
  else cli.out(`Not reachable now (${problem}). ${lastSeen} Is \`latch device run\` running?`);
  for (const k of p.sshKeys) cli.out(`SSH key ${k.name}: ${k.public_key}`);
  return 0;
}

/**
 * `latch doctor [--agent PATH] [--json]`: checks what SSH logins and git signing need, and says
 * how to fix each problem: pairing, relay, authenticator (a `me` request, 5 s), the agent
 * socket, the OpenSSH version (>= 8.9 for session-bind, i.e. verified hosts) and git's config.
 * Exit 0 when all is well, 1 when something needs fixing.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { defaultCli, parse } from '../cli-context.js';
import { isLatchError } from '../../util/latch-error.js';
import { defaultAgentSocket } from './agent.js';

const USAGE = 'latch doctor [--agent PATH] [--json]';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export async function doctor(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const { values } = parse(argv, { agent: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  const checks: Check[] = [];
  const add = (c: Check): void => {
    checks.push(c);
    if (!values.json) cli.err(`${c.ok ? 'ok     ' : 'PROBLEM'} ${c.name}: ${c.detail}${c.fix ? `\n        fix: ${c.fix}` : ''}`);
  };

  const { loadComputerState } = await import('../../computer/computer-state.js');
  let pairing;
  try {
    pairing = loadComputerState(cli.paths.computerFile).pairing;
  } catch (e) {
    add({ name: 'pairing', ok: false, detail: isLatchError(e) ? e.message : 'unreadable', fix: 'move the file away and run `latch pair`' });
  }
  if (pairing) add({ name: 'pairing', ok: true, detail: `paired with "${pairing.deviceName}" (${pairing.sshKeys.length} SSH key(s))` });
  else if (checks.length === 0) add({ name: 'pairing', ok: false, detail: 'this computer is not paired', fix: 'run `latch pair` and scan the code with your authenticator' });

  if (pairing) {
    const { checkRelay, clockOffText, CLOCK_FIX } = await import('../relay-health.js');
    let relayOk = false;
    let clockOff: string | undefined;
    try {
      const health = await checkRelay(pairing.relayUrl);
      relayOk = true;
      add({ name: 'relay', ok: true, detail: `${pairing.relayUrl} answers` });
      // Issue 12: a wrong clock makes the relay refuse every proof with the same 401; its Date
      // header lets us name the real cause instead of blaming the authenticator.
      clockOff = clockOffText(health.clockOffsetSeconds);
      if (clockOff) add({ name: 'clock', ok: false, detail: clockOff, fix: CLOCK_FIX });
    } catch (e) {
      add({ name: 'relay', ok: false, detail: isLatchError(e) ? e.message : 'unreachable', fix: `check your network, or that \`latch server\` runs at ${pairing.relayUrl}` });
    }
    if (relayOk) {
      const { sodiumReady } = await import('../../protocol/sodium.js');
      const { RelayClient } = await import('../../transport/relay-client.js');
      const { AuthenticatorClient } = await import('../../computer/authenticator-client.js');
      const { TIMEOUT_ME_SECONDS } = await import('../../protocol/protocol-constants.js');
      const client = new AuthenticatorClient(await sodiumReady(), new RelayClient({ url: pairing.relayUrl }), pairing, () => undefined);
      try {
        const info = await client.request({ kind: 'me' }, { timeoutSeconds: TIMEOUT_ME_SECONDS });
        add({ name: 'authenticator', ok: true, detail: `"${info.name}" answered with ${info.ssh_keys.length} key(s)` });
      } catch (e) {
        add({
          name: 'authenticator',
          ok: false,
          detail: isLatchError(e) ? e.message : 'no answer',
          fix: clockOff ? `first fix the clock: ${clockOff}` : 'open Latch on your authenticator (`latch device run`) and check it is online',
        });
      } finally {
        client.close();
      }
    }
  }

  const socket = path.resolve(values.agent ?? process.env.SSH_AUTH_SOCK ?? defaultAgentSocket(cli.paths.runtimeDir));
  {
    const { AgentClient } = await import('../../agent/agent-client.js');
    const { decodeIdentitiesAnswer, encodeRequestIdentities } = await import('../../agent/agent-codec.js');
    try {
      const c = await AgentClient.connect(socket, 2000);
      try {
        const ids = decodeIdentitiesAnswer(await c.request(encodeRequestIdentities()));
        add({ name: 'agent', ok: true, detail: `${socket} answers with ${ids.length} key(s)` });
      } finally {
        c.close();
      }
    } catch {
      add({ name: 'agent', ok: false, detail: `nothing answers at ${socket}`, fix: `start it: \`latch agent --socket ${socket}\` (and \`latch ssh setup\` so ssh uses it)` });
    }
  }

  {
    const r = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
    const m = /OpenSSH_(\d+)\.(\d+)/.exec(`${r.stderr ?? ''}${r.stdout ?? ''}`);
    if (r.error || !m) add({ name: 'openssh', ok: false, detail: 'ssh not found', fix: 'install OpenSSH 8.9 or later' });
    else {
      const [maj, min] = [Number(m[1]), Number(m[2])];
      const ok = maj > 8 || (maj === 8 && min >= 9);
      add({
        name: 'openssh',
        ok,
        detail: `OpenSSH ${maj}.${min}${ok ? ' (sends session-bind: hosts can be verified)' : ' is older than 8.9: the authenticator cannot verify hosts'}`,
        fix: ok ? undefined : 'upgrade OpenSSH to 8.9 or later',
      });
    }
  }

  {
    const { gitConfigGet } = await import('../../computer/git-config.js');
    try {
      const format = gitConfigGet(undefined, 'gpg.format');
      const program = gitConfigGet(undefined, 'gpg.ssh.program');
      const key = gitConfigGet(undefined, 'user.signingkey');
      const problems: string[] = [];
      if (format !== 'ssh') problems.push(`gpg.format is ${format ?? 'unset'}, not ssh`);
      if (!program || !fs.existsSync(program)) problems.push(`gpg.ssh.program ${program ? `(${program}) does not exist` : 'is unset'}`);
      if (!key) problems.push('user.signingkey is unset');
      else if (pairing && !pairing.sshKeys.some((k) => key.includes(k.public_key.split(' ')[1]!))) problems.push('user.signingkey is not a key of the paired authenticator');
      add(
        problems.length
          ? { name: 'git', ok: false, detail: problems.join('; '), fix: 'run `latch git setup --global` (or --repo DIR)' }
          : { name: 'git', ok: true, detail: 'commits and tags are signed through latch' },
      );
    } catch (e) {
      add({ name: 'git', ok: false, detail: isLatchError(e) ? e.message : 'git not usable', fix: 'install git 2.34 or later' });
    }
  }

  if (values.json) cli.out(JSON.stringify({ ok: checks.every((c) => c.ok), checks }));
  return checks.every((c) => c.ok) ? 0 : 1;
}

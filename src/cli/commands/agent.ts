/**
 * `latch agent [--socket PATH] [--upstream SOCK] [--sign-timeout S]`: the ssh-agent of this
 * computer, with the keys of the paired authenticator (docs/AGENT.md). Foreground; prints
 * `SSH_AUTH_SOCK=PATH; export SSH_AUTH_SOCK;` on stdout for `eval`. With `--background` it
 * starts itself detached (log in the runtime dir), waits until the socket is served, prints
 * the SSH_AUTH_SOCK and SSH_AGENT_PID lines as ssh-agent does, and exits.
 *
 * `latch agent hint [--agent PATH] USER HOST PORT HOSTKEY`: what the KnownHostsCommand
 * written by `latch ssh setup` runs; tells the running agent which host name ssh is
 * connecting to. Prints nothing on stdout (ssh reads it as known_hosts lines) and always
 * exits 0, so ssh never fails because of it.
 */
import path from 'node:path';
import { defaultCli, parse, secondsFrom, usageError } from '../cli-context.js';

const USAGE = 'latch agent [--socket PATH] [--upstream SOCK | --no-upstream] [--sign-timeout SECONDS] [--background]';
const HINT_USAGE = 'latch agent hint [--agent PATH] USER HOST PORT HOSTKEY';

export function defaultAgentSocket(runtimeDir: string): string {
  return path.join(runtimeDir, 'agent.sock');
}

export async function agent(argv: string[]): Promise<number> {
  if (argv[0] === 'hint') return hint(argv.slice(1));
  const cli = defaultCli();
  const { values } = parse(
    argv,
    { socket: { type: 'string' }, upstream: { type: 'string' }, 'no-upstream': { type: 'boolean' }, 'sign-timeout': { type: 'string' }, background: { type: 'boolean' } },
    USAGE,
  );
  const signTimeoutSeconds = secondsFrom(values['sign-timeout'], 30, '--sign-timeout', USAGE);
  if (values.background) {
    const socketPath = path.resolve(values.socket ?? defaultAgentSocket(cli.paths.runtimeDir));
    const foreground = argv.filter((a) => a !== '--background');
    if (values.socket === undefined) foreground.push('--socket', socketPath);
    const { startInBackground } = await import('../background-process.js');
    const { pid } = await startInBackground({
      args: ['agent', ...foreground],
      logFile: path.join(cli.paths.runtimeDir, 'agent.log'),
      ready: /agent listening on /,
      what: 'latch agent',
    });
    cli.out(`SSH_AUTH_SOCK=${socketPath}; export SSH_AUTH_SOCK;`);
    cli.out(`SSH_AGENT_PID=${pid}; export SSH_AGENT_PID;`);
    cli.err(`latch agent running in the background (pid ${pid}, log ${path.join(cli.paths.runtimeDir, 'agent.log')}); stop it with: kill ${pid}`);
    return 0;
  }
  const { sodiumReady } = await import('../../protocol/sodium.js');
  const { RelayClient } = await import('../../transport/relay-client.js');
  const { AuthenticatorClient } = await import('../../computer/authenticator-client.js');
  const { loadComputerState, updateComputerState, samePairing, requirePairing } = await import('../../computer/computer-state.js');
  const { startAgentServer } = await import('../../agent/agent-server.js');
  const { AuthenticatorBackend } = await import('../../agent/authenticator-backend.js');
  const { HostHints, startHintServer, hintSocketFor } = await import('../../agent/host-hints.js');

  const pairing = requirePairing(loadComputerState(cli.paths.computerFile));
  const socketPath = path.resolve(values.socket ?? defaultAgentSocket(cli.paths.runtimeDir));
  const inherited = process.env.SSH_AUTH_SOCK;
  const upstream = values['no-upstream']
    ? undefined
    : (values.upstream ?? (inherited && path.resolve(inherited) !== socketPath ? inherited : undefined));
  const log = (line: string): void => cli.err(`[agent] ${line}`);
  const sodium = await sodiumReady();
  const relay = new RelayClient({ url: pairing.relayUrl });
  // The agent lives on after each answer, so its acks complete after the answer is handed to ssh.
  const client = new AuthenticatorClient(sodium, relay, pairing, log, true);
  const hints = new HostHints();
  const backend = new AuthenticatorBackend({
    client,
    initialKeys: pairing.sshKeys,
    hints,
    signTimeoutSeconds,
    log,
    onKeys: (keys) => {
      // The cache on disk is a convenience: a failure to write it is not the agent's problem.
      updateComputerState(cli.paths.computerFile, (state) => {
        if (samePairing(state.pairing, pairing)) state.pairing.sshKeys = keys;
      }).catch(() => undefined);
    },
  });
  const server = await startAgentServer({ socketPath, backend, upstreamSocket: upstream, log });
  const hintServer = await startHintServer(hintSocketFor(socketPath), hints, log);
  cli.err(`[agent] keys of "${pairing.deviceName}" via ${pairing.relayUrl}${upstream ? `; other keys from the agent at ${upstream}` : ''}`);
  cli.out(`SSH_AUTH_SOCK=${socketPath}; export SSH_AUTH_SOCK;`);
  void backend.refresh();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await hintServer.close();
  await server.close();
  client.close();
  return 0;
}

async function hint(argv: string[]): Promise<number> {
  // Kept cheap: ssh runs this for every connection (docs/AGENT.md "Host names").
  const cli = defaultCli();
  try {
    const { values, positionals } = parse(argv, { agent: { type: 'string' } }, HINT_USAGE, 4);
    const [user, host, port, key] = positionals;
    if (key === undefined) throw usageError('USER HOST PORT HOSTKEY are required', HINT_USAGE);
    const { sendHostHint, hintSocketFor, NO_HOST_KEY } = await import('../../agent/host-hint-client.js');
    // ssh asks once with %K = NONE before it has the host key: nothing to tell the agent.
    if (key === NO_HOST_KEY) return 0;
    const socket = values.agent ?? process.env.SSH_AUTH_SOCK ?? defaultAgentSocket(cli.paths.runtimeDir);
    await sendHostHint(hintSocketFor(socket), { user: user!, host: host!, port: Number(port), hostKeyBase64: key });
  } catch {
    /* never fail ssh */
  }
  return 0;
}

/**
 * Several `latch server` nodes on one three-node NATS JetStream cluster (issue 10), and a computer
 * and an authenticator paired across them: the computer talks to one node first, the
 * authenticator to another. For the tests whose parties sit on different nodes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, type RunResult } from './agent-test-env.js';
import { sshArgs } from './sshd.js';
import { startNats, type NatsCluster } from './nats-cluster.js';
import { latch, latchRun, newAuthenticator, startLatchServer, tempDir, type LatchServer } from './latch-process.js';
import { latchInteractive, type Watched } from './latch-ssh-env.js';

export interface LatchCluster {
  readonly nats: NatsCluster;
  readonly nodes: LatchServer[];
  /** Every node's URL, starting at node `first`: the order a client given it tries them in. */
  from(first: number): string;
  stop(): Promise<void>;
}

/** Three NATS nodes (R3) and `size` latch nodes on them, each started with `--relay-store` and `args`. */
export async function startLatchCluster(opts: { size?: number; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<LatchCluster> {
  const nats = await startNats(3);
  const nodes: LatchServer[] = [];
  const size = opts.size ?? 3;
  for (let i = 0; i < size; i++) {
    nodes.push(await startLatchServer({ args: ['--relay-store', nats.urls, ...(opts.args ?? [])], ...(opts.env ? { env: opts.env } : {}) }));
  }
  return {
    nats,
    nodes,
    from: (first) => nodes.map((_, i) => nodes[(first + i) % size]!.url).join(','),
    async stop() {
      for (const n of nodes) await n.stop().catch(() => {});
      await nats.stop();
    },
  };
}

export interface CrossNodePair {
  phone: string;
  computer: string;
  /** The pairing link the computer printed. */
  link: string;
  /** `latch device run --auto-approve` of the phone, and `latch agent` of the computer. */
  device: Watched;
  agent: Watched;
  agentSocket: string;
  /** authorized_keys lines of the phone's keys. */
  keys: string[];
  stop(): Promise<void>;
}

/**
 * A fresh authenticator and computer paired with the computer on `cluster.from(computerFirst)` and
 * the authenticator on `cluster.from(phoneFirst)`; then the authenticator's `device run
 * --auto-approve` and the computer's agent, both running.
 */
export async function pairAcrossNodes(cluster: LatchCluster, computerFirst: number, phoneFirst: number): Promise<CrossNodePair> {
  const phone = await newAuthenticator('cluster phone');
  const computer = tempDir('computer');
  const pair = latch(['pair', '--server', cluster.from(computerFirst), '--uri-only', '--timeout', '60'], { home: computer });
  const [link] = await pair.waitFor(/^latch:\/\/pair\?\S+/m, 'stdout');
  const dev = await latchRun(['device', 'pair', link, '--server', cluster.from(phoneFirst)], { home: phone });
  if (dev.code !== 0) throw new Error(`device pair failed: ${dev.stderr}`);
  const paired = await pair.exited;
  if (paired.code !== 0) throw new Error(`latch pair failed: ${pair.stderr()}`);
  const keys = (await latchRun(['device', 'key', 'list'], { home: phone })).stdout.trim().split('\n');
  const device = latchInteractive(['device', 'run', '--auto-approve'], phone);
  const dir = tempDir('agent');
  fs.chmodSync(dir, 0o700);
  const agentSocket = path.join(dir, 'agent.sock');
  const agent = latchInteractive(['agent', '--socket', agentSocket, '--sign-timeout', '20', '--no-upstream'], computer);
  const stop = async (): Promise<void> => {
    await agent.stop();
    await device.stop();
  };
  try {
    await device.waitFor(/ready: waiting for requests from 1 paired computer/);
    await agent.waitFor(/agent listening on /);
  } catch (e) {
    await stop();
    throw e;
  }
  return { phone, computer, link: link!, device, agent, agentSocket, keys, stop };
}

/** `ssh USER@127.0.0.1 -p PORT echo logged-in` through the pair's agent (the login the authenticator approves). */
export function sshLogin(pair: CrossNodePair, sshdPort: number): Promise<RunResult> {
  return run('ssh', [...sshArgs(sshdPort, pair.agentSocket), `${os.userInfo().username}@127.0.0.1`, 'echo logged-in'], {
    env: { ...process.env, LATCH_HOME: pair.computer },
  });
}

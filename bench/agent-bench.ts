/**
 * `latch agent` benchmark (issue 3): sign round trip from the agent socket through a real relay
 * to an auto-approving authenticator (`latch device run --auto-approve`) and back, against
 * OpenSSH's `ssh-agent` holding a local Ed25519 key, in the same run; and the wall time of
 * `ssh ... true` against a private sshd through each agent. Every party is a real process on
 * loopback; loops are bounded. Aim (issue 9): p50 sign within 1.5x of ssh-agent, p99 within 3x,
 * `ssh ... true` within 1.05x. The agent keeps one WebSocket to the relay for its lifetime (§3.7).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../src/agent/agent-client.js';
import { decodeIdentitiesAnswer, decodeSignResponse, encodeRequestIdentities, encodeSignRequest } from '../src/agent/agent-codec.js';
import { SshWriter } from '../src/protocol/ssh/ssh-wire.js';
import { parseAuthorizedKeyLine } from '../src/protocol/ssh/ssh-public-key.js';
import { queueIdFromPublicKey, type QueueKeyPair } from '../src/protocol/queue-id.js';
import { randomBytes } from '../src/protocol/random-bytes.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { RelayClient } from '../src/transport/relay-client.js';
import { cpuNs } from './process-cpu.js';
import { WebSocket } from 'ws';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const ECHO = fileURLToPath(new URL('./relay-echo.js', import.meta.url));
const WS_ECHO = fileURLToPath(new URL('./ws-echo-server.js', import.meta.url));
/** Idle time before each echo of the wake-up floor: about one sign round trip, as each hop of a sign waits. */
const IDLE_MS = 5;
/**
 * Timed signs per agent. 300, not 100: the p99 of 100 samples is their largest one, which one
 * scheduling stall on two busy cores decides; of 300 it is the fourth largest.
 */
const SIGNS = 300;
const WARM_UP = 20;
const CONNECTS = 30;
const LOGINS = 8;
const PASSPHRASE = 'bench passphrase (not secret)';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}
const ms = (x: number): string => `${x.toFixed(2)} ms`;
const us = (x: number): string => `${x.toFixed(0)} us`;

function waitOutput(child: ChildProcess, re: RegExp, stream: 'stdout' | 'stderr' = 'stderr', timeoutMs = 30_000): Promise<RegExpMatchArray> {
  let buf = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`bench: timed out waiting for ${re}: ${buf}`)), timeoutMs);
    const out = child[stream]!;
    out.setEncoding('utf8');
    // Once found, the listener goes (the stream keeps flowing and its data is dropped): it used to
    // stay, appending every later log line of the daemon and matching the whole buffer again,
    // which put work that grew with the run on the bench's own CPU while it timed signatures.
    const onData = (c: string): void => {
      buf += c;
      const m = re.exec(buf);
      if (m) {
        clearTimeout(t);
        out.off('data', onData);
        resolve(m);
      }
    };
    out.on('data', onData);
    child.once('exit', (code) => (clearTimeout(t), reject(new Error(`bench: process exited (${code}) before ${re}: ${buf}`))));
  });
}

async function waitForSocket(p: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await new Promise<boolean>((r) => net.createConnection(p).once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`bench: socket ${p} never came up`);
}

function userauthData(keyBlob: Uint8Array, i: number): Uint8Array {
  const sid = new Uint8Array(32);
  new DataView(sid.buffer).setUint32(0, i);
  return new SshWriter().string(sid).byte(50).string('bench').string('ssh-connection').string('publickey').bool(true).string('ssh-ed25519').string(keyBlob).bytes();
}

/** CPU µs per operation of each process, over `n` operations since `before` (from cpuNs). */
function cpuPerOp(pids: number[], before: number[], n: number): number[] {
  return pids.map((p, i) => (cpuNs(p) - before[i]!) / 1000 / n);
}

/** `n` timed signs after the warm-up; `pids`: the processes whose CPU is counted over the timed signs. */
async function signLatency(socket: string, n: number, pids: number[]): Promise<{ lat: number[]; cpuUs: number[] }> {
  const c = await AgentClient.connect(socket);
  try {
    const ids = decodeIdentitiesAnswer(await c.request(encodeRequestIdentities()));
    const key = ids.find((k) => new TextDecoder().decode(k.keyBlob.subarray(4, 15)) === 'ssh-ed25519');
    if (!key) throw new Error('bench: no ed25519 key in the agent');
    // Warm-up, the same for both agents: latch's three processes are long-lived daemons whose
    // first few requests run before V8 has compiled the hot path (seen: 6-13 ms for the first ~15).
    for (let w = 0; w < WARM_UP; w++) decodeSignResponse(await c.request(encodeSignRequest(key.keyBlob, userauthData(key.keyBlob, 1_000_000 + w))));
    const lat: number[] = [];
    const cpu0 = pids.map(cpuNs);
    for (let i = 1; i <= n; i++) {
      const t = performance.now();
      decodeSignResponse(await c.request(encodeSignRequest(key.keyBlob, userauthData(key.keyBlob, i))));
      lat.push(performance.now() - t);
    }
    return { lat: lat.sort((a, b) => a - b), cpuUs: cpuPerOp(pids, cpu0, n) };
  } finally {
    c.close();
  }
}

/**
 * A fresh connection per request, as ssh makes one per login: for latch agent this includes the
 * peer uid check (SO_PEERCRED read by a perl process, docs/AGENT.md "Who may connect").
 */
async function connectAndList(socket: string, n: number): Promise<number[]> {
  const lat: number[] = [];
  for (let i = 0; i <= n; i++) {
    const t = performance.now();
    const c = await AgentClient.connect(socket);
    try {
      decodeIdentitiesAnswer(await c.request(encodeRequestIdentities()));
    } finally {
      c.close();
    }
    if (i > 0) lat.push(performance.now() - t); // the first one warms up
  }
  return lat.sort((a, b) => a - b);
}

/**
 * The relay's share of a sign round trip, with no agent or authenticator work: a body from this
 * process through the relay to relay-echo.js (early delivery, as `latch device run` reads) and
 * back (early delivery, as `latch agent` reads its answers), each side acking as the product does.
 */
async function relayRoundTrip(url: string, relayPid: number): Promise<{ lat: number[]; cpuUs: number[] }> {
  const sodium = await sodiumReady();
  const keys = (): QueueKeyPair => {
    const k = sodium.crypto_sign_keypair();
    return { publicKey: k.publicKey, secretKey: k.privateKey };
  };
  const inbox = keys();
  const replies = keys();
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const echo = spawn(process.execPath, [ECHO, url, hex(inbox.publicKey), hex(inbox.secretKey), queueIdFromPublicKey(sodium, replies.publicKey)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const relay = new RelayClient({ url });
  const stop = new AbortController();
  try {
    await waitOutput(echo, /ready/, 'stdout');
    // The body in flight and who waits for it: a late copy of an earlier one (a redelivery) does not count.
    let expected: { body: Uint8Array; arrived: () => void } | undefined;
    let connected!: () => void;
    const up = new Promise<void>((r) => (connected = r));
    const reading = (async () => {
      for await (const { message } of relay.inboxes([replies], { early: true, signal: stop.signal, onStatus: (s) => s === 'connected' && connected() })) {
        relay.ack(replies, [message.id]).catch(() => undefined);
        if (expected !== undefined && Buffer.compare(message.body, expected.body) === 0) expected.arrived();
      }
    })();
    await up;
    const target = queueIdFromPublicKey(sodium, inbox.publicKey);
    const once = async (): Promise<number> => {
      const body = randomBytes(512); // about a sign request's envelope
      const t = performance.now();
      await new Promise<void>((resolve, reject) => {
        expected = { body, arrived: resolve };
        relay.send(target, body).catch(reject);
      });
      return performance.now() - t;
    };
    for (let w = 0; w < WARM_UP; w++) await once();
    const pids = [relayPid, echo.pid!];
    const cpu0 = pids.map(cpuNs);
    const self0 = process.cpuUsage();
    const lat: number[] = [];
    for (let i = 0; i < SIGNS; i++) lat.push(await once());
    const self = process.cpuUsage(self0);
    const cpuUs = [...cpuPerOp(pids, cpu0, SIGNS), (self.user + self.system) / SIGNS];
    stop.abort();
    await reading.catch(() => undefined);
    return { lat: lat.sort((a, b) => a - b), cpuUs };
  } finally {
    stop.abort();
    echo.kill('SIGTERM');
  }
}

/**
 * The wake-up floor: a WebSocket round trip between this process and an echo process, with no
 * relay and no work, back to back and after IDLE_MS of idle. A process that has slept (as each
 * one on a sign's path has, while the others worked) takes longer to wake than a busy one; a sign
 * through latch crosses three such round trips of processes (ssh <-> agent, agent <-> relay,
 * relay <-> authenticator), ssh-agent's one.
 */
async function wakeFloor(): Promise<{ busy: number[]; idle: number[] }> {
  const server = spawn(process.execPath, [WS_ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = (await waitOutput(server, /^(\d+)\n/m, 'stdout'))[1]!;
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const body = new Uint8Array(512);
    const once = async (): Promise<number> => {
      const t = performance.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('bench: the echo process did not answer within 10 s')), 10_000);
        ws.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
        ws.send(body);
      });
      return performance.now() - t;
    };
    for (let w = 0; w < WARM_UP; w++) await once();
    const busy: number[] = [];
    for (let i = 0; i < SIGNS; i++) busy.push(await once());
    const idle: number[] = [];
    for (let i = 0; i < SIGNS; i++) {
      await new Promise((r) => setTimeout(r, IDLE_MS));
      idle.push(await once());
    }
    ws.close();
    return { busy: busy.sort((a, b) => a - b), idle: idle.sort((a, b) => a - b) };
  } finally {
    server.kill('SIGTERM');
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function sshTrue(port: number, socket: string, dir: string): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ssh',
      ['-F', '/dev/null', '-o', `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=accept-new', '-o', `IdentityAgent=${socket}`, '-o', 'BatchMode=yes', '-p', String(port), `${os.userInfo().username}@127.0.0.1`, 'true'],
      { stdio: 'ignore' },
    );
    child.once('exit', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`bench: ssh exited with ${code}`))));
  });
}

export async function agentBench(): Promise<string[]> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'latch-agent-bench-'));
  fs.chmodSync(root, 0o700);
  const children: ChildProcess[] = [];
  const latch = (home: string, args: string[]): ChildProcess => {
    const c = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LATCH_HOME: path.join(root, home), LATCH_PASSPHRASE: PASSPHRASE }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    return c;
  };
  const done = (c: ChildProcess): Promise<void> => new Promise((r, j) => c.once('exit', (code) => (code === 0 ? r() : j(new Error(`bench: latch exited ${code}`)))));
  try {
    // Without the per-IP rate limit, as relay-bench.ts runs it: every process here shares
    // 127.0.0.1, so the one bucket (100 requests/s, burst 1000, §3.4) ran dry about 245 round trips
    // into the relay-alone row, and the clients' backoff on `rate_limited` became that row's p99
    // (131-188 ms against 4-6 ms without the limit, 2026-12-03). The limiter is not what this measures.
    const server = latch('server', ['server', '--listen', '127.0.0.1:0', '--data', path.join(root, 'server-data'), '--rate-limit', 'off']);
    const url = (await waitOutput(server, /listening on (http:\/\/127\.0\.0\.1:\d+)/, 'stdout'))[1]!;
    await done(latch('phone', ['device', 'init', '--name', 'bench phone']));
    const pair = latch('computer', ['pair', '--server', url, '--uri-only', '--timeout', '30']);
    const link = (await waitOutput(pair, /^latch:\/\/pair\?\S+/m, 'stdout'))[0];
    await Promise.all([done(latch('phone', ['device', 'pair', link])), done(pair)]);
    const device = latch('phone', ['device', 'run', '--auto-approve']);
    await waitOutput(device, /ready: waiting for requests from 1/);
    const latchSock = path.join(root, 'latch', 'agent.sock');
    const agent = latch('computer', ['agent', '--socket', latchSock, '--no-upstream']);
    await waitOutput(agent, /agent listening on/);

    const sshAgentSock = path.join(root, 'ssh-agent.sock');
    const sshAgent = spawn('ssh-agent', ['-D', '-a', sshAgentSock], { stdio: 'ignore' });
    children.push(sshAgent);
    await waitForSocket(sshAgentSock);
    const keyFile = path.join(root, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    execFileSync('ssh-add', ['-q', keyFile], { env: { ...process.env, SSH_AUTH_SOCK: sshAgentSock }, stdio: 'ignore' });

    const { lat: latchLat, cpuUs: latchCpu } = await signLatency(latchSock, SIGNS, [agent.pid!, server.pid!, device.pid!]);
    const { lat: openLat, cpuUs: openCpu } = await signLatency(sshAgentSock, SIGNS, [sshAgent.pid!]);
    const floor = await relayRoundTrip(url, server.pid!);
    const wake = await wakeFloor();
    const latchConn = await connectAndList(latchSock, CONNECTS);
    const openConn = await connectAndList(sshAgentSock, CONNECTS);
    const lines = [
      `agent connect + list identities on a new connection, ${CONNECTS} sequential: latch agent p50 ${ms(pct(latchConn, 50))}, p99 ${ms(pct(latchConn, 99))}; ssh-agent p50 ${ms(pct(openConn, 50))}, p99 ${ms(pct(openConn, 99))} (latch includes the peer uid check)`,
      `agent sign round trip, latch agent -> relay -> authenticator (auto-approve) -> back, ${SIGNS} sequential: p50 ${ms(pct(latchLat, 50))}, p99 ${ms(pct(latchLat, 99))}`,
      `agent sign round trip, OpenSSH ssh-agent with a local key, ${SIGNS} sequential: p50 ${ms(pct(openLat, 50))}, p99 ${ms(pct(openLat, 99))}`,
      `agent sign ratio latch/ssh-agent: p50 ${(pct(latchLat, 50) / pct(openLat, 50)).toFixed(1)}x, p99 ${(pct(latchLat, 99) / pct(openLat, 99)).toFixed(1)}x (aim: p50 <= 1.5x, p99 <= 3x)`,
      `CPU per sign, all threads: latch agent ${us(latchCpu[0]!)}, relay ${us(latchCpu[1]!)}, authenticator ${us(latchCpu[2]!)} (sum ${us(latchCpu[0]! + latchCpu[1]! + latchCpu[2]!)}); ssh-agent ${us(openCpu[0]!)}`,
      `relay round trip alone (this process -> relay -> a process that only sends each body back and acks it -> relay -> here, ${SIGNS} sequential): p50 ${ms(pct(floor.lat, 50))}, p99 ${ms(pct(floor.lat, 99))} = ${(pct(floor.lat, 50) / pct(openLat, 50)).toFixed(1)}x ssh-agent's sign p50; relay CPU ${us(floor.cpuUs[0]!)}, echo ${us(floor.cpuUs[1]!)}, this process ${us(floor.cpuUs[2]!)} per round trip`,
      `wake-up floor, a WebSocket round trip to an echo process (no relay, no work), ${SIGNS} sequential: back to back p50 ${ms(pct(wake.busy, 50))}, after ${IDLE_MS} ms idle p50 ${ms(pct(wake.idle, 50))}, p99 ${ms(pct(wake.idle, 99))}; a latch sign crosses 3 such round trips of processes, ssh-agent's 1`,
    ];

    // Login wall time against a private sshd that accepts both keys.
    const sshdDir = path.join(root, 'sshd');
    fs.mkdirSync(sshdDir);
    const hostKey = path.join(sshdDir, 'host');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    const latchKeys = fs.readFileSync(path.join(root, 'computer', 'computer.json'), 'utf8');
    const pub = (JSON.parse(latchKeys) as { pairing: { sshKeys: { public_key: string }[] } }).pairing.sshKeys.map((k) => parseAuthorizedKeyLine(k.public_key) && k.public_key);
    fs.writeFileSync(path.join(sshdDir, 'authorized_keys'), [...pub, fs.readFileSync(keyFile + '.pub', 'utf8').trim()].join('\n') + '\n', { mode: 0o600 });
    const port = await freePort();
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    fs.writeFileSync(
      path.join(sshdDir, 'config'),
      [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${path.join(sshdDir, 'pid')}`, `AuthorizedKeysFile ${path.join(sshdDir, 'authorized_keys')}`, 'StrictModes no', 'UsePAM no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', ''].join('\n'),
    );
    const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(sshdDir, 'config')], { stdio: 'ignore' });
    children.push(sshd);
    for (let i = 0; i < 200 && !(await new Promise<boolean>((r) => net.createConnection(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)))); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const latchLogins: number[] = [];
    const openLogins: number[] = [];
    await sshTrue(port, sshAgentSock, sshdDir); // accept the host key once
    for (let i = 0; i < LOGINS; i++) {
      latchLogins.push(await sshTrue(port, latchSock, sshdDir));
      openLogins.push(await sshTrue(port, sshAgentSock, sshdDir));
    }
    latchLogins.sort((a, b) => a - b);
    openLogins.sort((a, b) => a - b);
    lines.push(
      `ssh ... true wall time, median of ${LOGINS}: latch agent ${ms(pct(latchLogins, 50))}, ssh-agent ${ms(pct(openLogins, 50))}, ratio ${(pct(latchLogins, 50) / pct(openLogins, 50)).toFixed(2)}x (aim: <= 1.05x)`,
    );
    return lines;
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    fs.rmSync(root, { recursive: true, force: true });
  }
}

// Run directly: node dist/bench/agent-bench.js
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  agentBench().then(
    (lines) => {
      for (const l of lines) console.log(l);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { AgentFrameReader, decodeAgentRequest, decodeIdentitiesAnswer, decodeSignResponse, encodeExtensionRequest, encodeIdentitiesAnswer, encodeRequestIdentities, encodeSignRequest, frame } from '../src/agent/agent-codec.js';
import { AgentClient } from '../src/agent/agent-client.js';
import { AgentMsg } from '../src/agent/agent-message-ids.js';
import { parseSignMessageRequest, encodeSignMessageRequest, startAgentServer } from '../src/agent/agent-server.js';
import { SshWriter } from '../src/protocol/ssh/ssh-wire.js';
import { parseSessionBind } from '../src/protocol/ssh/session-bind.js';
import { parseSshSignData } from '../src/protocol/ssh/sign-data-guard.js';
import { parseSshPublicKey, ed25519PublicKeyBlob } from '../src/protocol/ssh/ssh-public-key.js';
import { parseSshSignature, ed25519SignatureBlob } from '../src/protocol/ssh/ssh-signature.js';
import { parseSshsig, unarmorSshsig, armorSshsig, encodeSshsig, buildSshsigSignedDataForMessage } from '../src/protocol/ssh/sshsig.js';
import { parseGitObject } from '../src/protocol/ssh/git-object.js';
import { isLatchError } from '../src/util/latch-error.js';
import { LocalKeyBackend } from './helpers/local-key-backend.js';
import { tempDir } from './helpers/agent-test-env.js';

const backend = new LocalKeyBackend(['ed25519', 'p256']);
const edKey = backend.keyOf('ed25519').blob;
const hostSk = ed25519.utils.randomSecretKey();
const hostBlob = ed25519PublicKeyBlob(ed25519.getPublicKey(hostSk));
const sid = new Uint8Array(32).fill(4);
const bindContents = new SshWriter().string(hostBlob).string(sid).string(ed25519SignatureBlob(ed25519.sign(sid, hostSk))).bool(true).bytes();
const userauth = new SshWriter().string(sid).byte(50).string('me').string('ssh-connection').string('publickey').bool(true).string('ssh-ed25519').string(edKey).bytes();
const sshsigData = buildSshsigSignedDataForMessage('git', new TextEncoder().encode('tree x\n'));

/** Valid request bodies to mutate. */
const seeds: Uint8Array[] = [
  encodeRequestIdentities(),
  encodeSignRequest(edKey, userauth),
  encodeSignRequest(edKey, sshsigData),
  encodeExtensionRequest('session-bind@openssh.com', bindContents),
  encodeExtensionRequest('sign-message@latch.dev', encodeSignMessageRequest(edKey, 'git', new TextEncoder().encode('tree 0\n\nm'))),
  encodeExtensionRequest('query', new Uint8Array(0)),
  new SshWriter().byte(AgentMsg.SSH_AGENTC_LOCK).string('pw').bytes(),
  new SshWriter().byte(AgentMsg.SSH_AGENTC_REMOVE_IDENTITY).string(edKey).bytes(),
  Uint8Array.of(AgentMsg.SSH_AGENTC_REMOVE_ALL_IDENTITIES),
];

const mutation = fc.record({
  seed: fc.integer({ min: 0, max: seeds.length - 1 }),
  ops: fc.array(
    fc.oneof(
      fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ k: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ k: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
      fc.record({ k: fc.constant('set' as const), at: fc.nat(), v: fc.constantFrom(0, 0x7f, 0x80, 0xff) }),
    ),
    { minLength: 1, maxLength: 4 },
  ),
});

function mutate(m: { seed: number; ops: ({ k: 'flip'; at: number; bit: number } | { k: 'cut'; at: number } | { k: 'insert'; at: number; bytes: Uint8Array } | { k: 'set'; at: number; v: number })[] }): Uint8Array {
  let b = seeds[m.seed]!.slice();
  for (const op of m.ops) {
    const at = b.length === 0 ? 0 : op.at % b.length;
    if (op.k === 'flip' && b.length) b[at]! ^= 1 << op.bit;
    else if (op.k === 'cut') b = b.slice(0, at);
    else if (op.k === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...op.bytes, ...b.subarray(at)]);
    else if (op.k === 'set' && b.length) b[at] = op.v;
  }
  return b;
}

/** Run every parser that faces a socket; only LatchError may escape. */
function parseAll(b: Uint8Array): void {
  const parsers: ((x: Uint8Array) => unknown)[] = [
    decodeAgentRequest,
    decodeIdentitiesAnswer,
    decodeSignResponse,
    parseSessionBind,
    parseSignMessageRequest,
    parseSshSignData,
    parseSshPublicKey,
    parseSshSignature,
    parseSshsig,
    parseGitObject,
    (x) => new AgentFrameReader().push(x),
  ];
  for (const p of parsers) {
    try {
      p(b);
    } catch (e) {
      if (!isLatchError(e)) throw e;
    }
  }
  try {
    const req = decodeAgentRequest(b);
    if (req.type === 'extension' && req.name === 'session-bind@openssh.com') parseSessionBind(req.contents);
    if (req.type === 'sign') parseSshSignData(req.data);
  } catch (e) {
    if (!isLatchError(e)) throw e;
  }
}

test('fuzz: random bytes into every socket-facing parser throw nothing but LatchError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => parseAll(b)), { numRuns: 3000 });
});

test('fuzz: mutated valid frames throw nothing but LatchError', () => {
  fc.assert(fc.property(mutation, (m) => parseAll(mutate(m))), { numRuns: 5000 });
  // The seeds themselves decode.
  for (const s of seeds) decodeAgentRequest(s);
});

test('fuzz: SSHSIG unarmor and identities answers', () => {
  const armored = armorSshsig(encodeSshsig({ publicKey: edKey, namespace: 'git', hashAlgorithm: 'sha512', signature: ed25519SignatureBlob(new Uint8Array(64)) }));
  fc.assert(
    fc.property(fc.nat(), fc.string({ maxLength: 3 }), (at, ins) => {
      const i = at % armored.length;
      try {
        unarmorSshsig(armored.slice(0, i) + ins + armored.slice(i + 1));
      } catch (e) {
        if (!isLatchError(e)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
  const ans = encodeIdentitiesAnswer([{ keyBlob: edKey, comment: 'c' }]);
  assert.equal(decodeIdentitiesAnswer(ans).length, 1);
});

test('fuzz: frame reader splits arbitrary chunkings identically', () => {
  const stream = Uint8Array.from(seeds.flatMap((s) => [...frame(s)]));
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 40 }), (sizes) => {
      const r = new AgentFrameReader();
      const out: Uint8Array[] = [];
      let off = 0;
      for (const n of sizes) {
        out.push(...r.push(stream.subarray(off, off + n)));
        off += n;
      }
      out.push(...r.push(stream.subarray(off)));
      assert.deepEqual(out, seeds);
    }),
  );
});

test('fuzz barrage against a live server: it survives and keeps serving', async () => {
  const dir = tempDir('latch-fuzz-');
  const socket = path.join(dir, 's', 'agent.sock');
  const server = await startAgentServer({ socketPath: socket, backend });
  try {
    const payloads: Uint8Array[] = [
      ...fc.sample(fc.uint8Array({ maxLength: 600 }), 150),
      ...fc.sample(mutation, 300).map((m) => frame(mutate(m))),
      ...fc.sample(mutation, 100).map((m) => mutate(m)),
    ];
    await Promise.all(
      payloads.map(
        (p) =>
          new Promise<void>((resolve) => {
            const s = net.createConnection(socket);
            s.on('error', () => resolve());
            s.on('close', () => resolve());
            s.on('data', () => undefined);
            s.once('connect', () => {
              s.write(p);
              setTimeout(() => s.destroy(), 50);
            });
          }),
      ),
    );
    const c = await AgentClient.connect(socket);
    try {
      const ids = decodeIdentitiesAnswer(await c.request(encodeRequestIdentities()));
      if (ids.length === 0) {
        // A fuzzed LOCK frame (seeded or mutated) locked the agent, as it would lock ssh-agent:
        // it still answers, and a locked agent signs nothing.
        assert.equal((await c.request(encodeSignRequest(edKey, userauth)))[0], AgentMsg.SSH_AGENT_FAILURE);
      } else {
        assert.equal(ids.length, 2);
        assert.ok(decodeSignResponse(await c.request(encodeSignRequest(edKey, userauth))).length > 0);
      }
    } finally {
      c.close();
    }
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

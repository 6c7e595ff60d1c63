/**
 * Latch's `gpg.ssh.program`: behaves like `ssh-keygen -Y sign` as git invokes it
 * (git gpg-interface.c: `-Y sign -n git -f KEYFILE [-U] FILE`, then reads FILE.sig), but
 * sends the whole message to the agent via the sign-message@latch.dev extension so the
 * authenticator can show the commit or tag. If the agent refuses the extension
 * (SSH_AGENT_FAILURE: not a Latch agent, or not a Latch key) it falls back to a plain
 * SSHSIG sign request, like ssh-keygen itself. Every other `-Y` operation (verify,
 * find-principals, check-novalidate, ...) runs the real ssh-keygen with the same args.
 * Node only.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { LatchError, isLatchError } from '../util/latch-error.js';
import { SshReader } from '../protocol/ssh/ssh-wire.js';
import { parseAuthorizedKeyLine, type AuthorizedKeyLine } from '../protocol/ssh/ssh-public-key.js';
import { verifySshSignature } from '../protocol/ssh/ssh-signature.js';
import { armorSshsig, buildSshsigSignedDataForMessage, encodeSshsig, parseSshsig, sshsigMatches, unarmorSshsig } from '../protocol/ssh/sshsig.js';
import { AgentClient } from './agent-client.js';
import { decodeIdentitiesAnswer, decodeSignResponse, encodeExtensionRequest, encodeRequestIdentities, encodeSignRequest } from './agent-codec.js';
import { AGENT_MAX_FRAME, AgentMsg, AgentSignFlags, SIGN_MESSAGE_EXTENSION } from './agent-message-ids.js';
import { encodeSignMessageRequest } from './agent-server.js';
import { MAX_SIGN_MESSAGE_BYTES } from '../protocol/messages.js';

export interface GitSignProgramIo {
  env?: NodeJS.ProcessEnv;
  stdin?: () => Uint8Array;
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
  /** The real ssh-keygen, for every operation other than sign. */
  sshKeygen?: string;
}

interface SignArgs {
  namespace: string;
  keyFile: string;
  files: string[];
}

function parseSignArgs(args: string[]): SignArgs {
  let namespace: string | undefined;
  let keyFile: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-n' || a === '-f' || a === '-O') {
      const v = args[++i];
      if (v === undefined) throw new LatchError('usage', `${a} needs a value`);
      if (a === '-n') namespace = v;
      else if (a === '-f') keyFile = v;
      // -O options (e.g. hashalg=) are accepted and ignored: we always use sha512, ssh-keygen's default.
    } else if (a === '-U' || a === '-q' || a === '-v') {
      /* -U: key is in an agent (always true for us) */
    } else if (a.startsWith('-') && a !== '-') {
      throw new LatchError('usage', `unsupported option ${a}`);
    } else files.push(a);
  }
  if (!namespace) throw new LatchError('usage', 'missing -n namespace');
  if (!keyFile) throw new LatchError('usage', 'missing -f key file');
  return { namespace, keyFile, files };
}

/** The public key from KEYFILE (a public key file, a private key path with KEYFILE.pub next to it, or a literal key line). */
function loadPublicKey(keyFile: string): AuthorizedKeyLine {
  const literal = keyFile.replace(/^key::/, '');
  if (/^(ssh-|ecdsa-)\S+ \S+/.test(literal)) return parseAuthorizedKeyLine(literal);
  const tryFile = (p: string): AuthorizedKeyLine | undefined => {
    let text: string;
    try {
      text = fs.readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
    const line = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
    if (!line || line.includes('PRIVATE KEY')) return undefined;
    return parseAuthorizedKeyLine(line);
  };
  const key = tryFile(keyFile) ?? tryFile(keyFile + '.pub');
  if (!key) throw new LatchError('no_public_key', `cannot read a public key from ${keyFile} or ${keyFile}.pub`);
  return key;
}

/** Does the agent at `socket` answer and list `keyBlob`? Any failure is a no. */
async function agentHolds(socket: string, keyBlob: Uint8Array): Promise<boolean> {
  try {
    const agent = await AgentClient.connect(socket, 2000);
    try {
      return decodeIdentitiesAnswer(await agent.request(encodeRequestIdentities())).some((i) => Buffer.compare(i.keyBlob, keyBlob) === 0);
    } finally {
      agent.close();
    }
  } catch {
    return false;
  }
}

/**
 * Which agent signs. `latch git setup` pins one in LATCH_GIT_AGENT (older wrappers set
 * SSH_AUTH_SOCK to it instead). An exported SSH_AUTH_SOCK wins when its agent holds the
 * signing key (e.g. `latch agent --socket PATH` + `export SSH_AUTH_SOCK=PATH`), as for ssh;
 * otherwise the pinned one is used, and `why` says so in any connection error.
 */
async function chooseAgent(env: NodeJS.ProcessEnv, keyBlob: Uint8Array): Promise<{ socket: string; why: string }> {
  const pinned = env.LATCH_GIT_AGENT || undefined;
  const exported = env.SSH_AUTH_SOCK || undefined;
  if (!pinned) {
    if (!exported) throw new LatchError('no_agent', 'SSH_AUTH_SOCK is not set; start `latch agent` first');
    return { socket: exported, why: 'from SSH_AUTH_SOCK' };
  }
  if (exported && exported !== pinned && (await agentHolds(exported, keyBlob))) return { socket: exported, why: 'from SSH_AUTH_SOCK' };
  const env_ = exported ? (exported === pinned ? '' : `; SSH_AUTH_SOCK=${exported} does not hold the signing key`) : '; SSH_AUTH_SOCK is not set';
  return { socket: pinned, why: `the socket \`latch git setup\` chose${env_}` };
}

/** signWithAgent on the chosen agent; a failed connection names the socket and why it was chosen. */
async function signWithChosenAgent(env: NodeJS.ProcessEnv, keyBlob: Uint8Array, namespace: string, message: Uint8Array): Promise<string> {
  const { socket, why } = await chooseAgent(env, keyBlob);
  try {
    return await signWithAgent(socket, keyBlob, namespace, message);
  } catch (e) {
    if (!isLatchError(e, 'agent_unreachable')) throw e;
    throw new LatchError(
      'agent_unreachable',
      `${e.message}: ${socket} (${why}). Start \`latch agent --socket ${socket}\`, export SSH_AUTH_SOCK to your latch agent's socket, or re-run \`latch git setup --agent PATH\``,
    );
  }
}

/** Ask the agent for an armored SSHSIG over `message`. */
export async function signWithAgent(socket: string, keyBlob: Uint8Array, namespace: string, message: Uint8Array): Promise<string> {
  const agent = await AgentClient.connect(socket);
  try {
    const ext = encodeExtensionRequest(SIGN_MESSAGE_EXTENSION, encodeSignMessageRequest(keyBlob, namespace, message));
    // A message too large for one agent frame goes the ssh-keygen way (hash only).
    const resp = ext.length <= AGENT_MAX_FRAME ? await agent.request(ext) : Uint8Array.of(AgentMsg.SSH_AGENT_FAILURE);
    if (resp[0] === AgentMsg.SSH_AGENT_SUCCESS) {
      const r = new SshReader(resp.subarray(1), `${SIGN_MESSAGE_EXTENSION} response`);
      const armored = r.utf8();
      r.expectEnd();
      await checkArmored(armored, keyBlob, namespace, message);
      return armored;
    }
    if (resp[0] === AgentMsg.SSH_AGENT_EXTENSION_FAILURE) {
      if (message.length > MAX_SIGN_MESSAGE_BYTES) {
        throw new LatchError('message_too_large', `the object is ${message.length} bytes; Latch shows at most ${MAX_SIGN_MESSAGE_BYTES} bytes on the authenticator, so it was not signed`);
      }
      throw new LatchError('sign_refused', 'the signature was refused (denied on the authenticator, or it timed out)');
    }
    // SSH_AGENT_FAILURE: the extension is not supported for this key; sign the SSHSIG blob as ssh-keygen does.
    const signed = buildSshsigSignedDataForMessage(namespace, message, 'sha512');
    const isRsa = new SshReader(keyBlob).utf8() === 'ssh-rsa';
    let sig: Uint8Array;
    try {
      sig = decodeSignResponse(await agent.request(encodeSignRequest(keyBlob, signed, isRsa ? AgentSignFlags.SSH_AGENT_RSA_SHA2_512 : 0)));
    } catch (e) {
      if (isLatchError(e, 'agent_refused')) throw new LatchError('sign_refused', 'the agent refused to sign');
      throw e;
    }
    if (!(await verifySshSignature(keyBlob, sig, signed))) throw new LatchError('bad_signature', 'the agent returned a signature that does not verify');
    return armorSshsig(encodeSshsig({ publicKey: keyBlob, namespace, hashAlgorithm: 'sha512', signature: sig }));
  } finally {
    agent.close();
  }
}

/** Never hand git a signature that would not verify. */
async function checkArmored(armored: string, keyBlob: Uint8Array, namespace: string, message: Uint8Array): Promise<void> {
  const sig = parseSshsig(unarmorSshsig(armored));
  const signed = buildSshsigSignedDataForMessage(namespace, message, sig.hashAlgorithm);
  if (!sshsigMatches(sig, keyBlob, namespace) || !(await verifySshSignature(keyBlob, sig.signature, signed))) {
    throw new LatchError('bad_signature', 'the agent returned a signature that does not verify');
  }
}

/** Entry point; resolves to the process exit code. `argv` excludes node and the script. */
export async function main(argv: string[], io: GitSignProgramIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const stderr = io.stderr ?? ((s: string) => process.stderr.write(s));
  const yIdx = argv.indexOf('-Y');
  const op = yIdx >= 0 ? argv[yIdx + 1] : undefined;
  if (op !== 'sign') {
    const real = spawnSync(io.sshKeygen ?? '/usr/bin/ssh-keygen', argv, { stdio: 'inherit', env });
    if (real.error) {
      stderr(`latch: cannot run ssh-keygen: ${real.error.message}\n`);
      return 255;
    }
    return real.status ?? 255;
  }
  try {
    const args = parseSignArgs(argv.filter((_, i) => i !== yIdx && i !== yIdx + 1));
    const key = loadPublicKey(args.keyFile);
    if (args.files.length === 0 || (args.files.length === 1 && args.files[0] === '-')) {
      const message = io.stdin ? io.stdin() : new Uint8Array(fs.readFileSync(0));
      const armored = await signWithChosenAgent(env, key.blob, args.namespace, message);
      (io.stdout ?? ((s: string) => process.stdout.write(s)))(armored);
      return 0;
    }
    for (const file of args.files) {
      const message = new Uint8Array(fs.readFileSync(file));
      const armored = await signWithChosenAgent(env, key.blob, args.namespace, message);
      fs.writeFileSync(file + '.sig', armored, { mode: 0o644 });
      stderr(`Write signature to ${file}.sig\n`);
    }
    return 0;
  } catch (e) {
    stderr(`latch: ${isLatchError(e) ? e.message : 'signing failed'}\n`);
    return 255;
  }
}

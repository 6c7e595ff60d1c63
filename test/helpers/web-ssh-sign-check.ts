/**
 * Browser entry for test/web-ssh.test.ts: bundled with esbuild at test time and loaded into
 * the page. It drives the web authenticator's real signing path (the shared review core over
 * the IndexedDB/WebCrypto adapter, web-ssh-store.ts) with a key of the asked type, in a
 * database of its own, and returns what was signed so Node can verify it with ssh-keygen and
 * the SSH signature codec. This is how the P-256 fallback is tested in a browser that has
 * Ed25519: the production code has no switch for it.
 */
import { decodeBase64, encodeBase64, encodeBase64url } from '../../src/protocol/base64url.js';
import { SshWriter } from '../../src/protocol/ssh/ssh-wire.js';
import { SshSignCore } from '../../src/authenticator/ssh-sign-core.js';
import type { StoredPairing } from '../../src/authenticator/authenticator-state.js';
import { generateWebSshKey, webSshKeyInfo } from '../../src/web/web-keys.js';
import { webSshSignStore } from '../../src/web/web-ssh-store.js';
import { WebStore, type WebSshKey } from '../../src/web/web-store.js';

async function check(type: 'ed25519' | 'p256', message: string): Promise<Record<string, unknown>> {
  const store = await WebStore.open(`latch-ssh-sign-check-${type}-${Date.now()}`);
  const key = await generateWebSshKey('check', 0, { forceP256: type === 'p256' });
  await store.put('device', { v: 1, deviceId: 'check', name: 'check', createdAt: 0, sshKeys: [key] });
  const lines: string[] = [];
  let asked = 0;
  const core = new SshSignCore<WebSshKey>({
    store: webSshSignStore(store),
    approver: { interactive: false, ask: async () => (asked++, { kind: 'once' }) },
    log: (l) => lines.push(l),
    clock: () => Math.floor(Date.now() / 1000),
  });
  const pairing = { id: 'pairing-check', computerName: 'check computer', computerPublicKey: encodeBase64url(new Uint8Array(32).fill(7)) } as StoredPairing;
  const blob = decodeBase64(key.publicBlob);
  const ack = async (): Promise<void> => undefined;

  // A git-style SSHSIG over `message` (sign_message), and a userauth request (ssh_sign).
  const sshsig = await core.signMessage(pairing, { kind: 'sign_message', key: encodeBase64url(blob), namespace: 'file', message: encodeBase64url(new TextEncoder().encode(message)) }, ack);
  const sessionId = crypto.getRandomValues(new Uint8Array(32));
  const userauth = new SshWriter().string(sessionId).byte(50).string('me').string('ssh-connection').string('publickey').bool(true).string(key.type).string(blob).bytes();
  const sshSig = await core.sshSign(pairing, { kind: 'ssh_sign', key: encodeBase64url(blob), data: encodeBase64url(userauth), binds: [] }, ack);
  // The guard: anything that is not SSH is refused before the key is used.
  let refused = 'signed';
  try {
    await core.sshSign(pairing, { kind: 'ssh_sign', key: encodeBase64url(blob), data: encodeBase64url(new TextEncoder().encode('transfer 100 coins to mallory')), binds: [] }, ack);
  } catch (e) {
    refused = (e as { code?: string }).code ?? String(e);
  }
  store.close();
  return {
    publicKey: webSshKeyInfo(key).public_key,
    algorithm: key.privateKey.algorithm.name,
    extractable: key.privateKey.extractable,
    sshsig: sshsig.signature,
    userauth: encodeBase64(userauth),
    userauthSignature: sshSig.signature,
    refused,
    asked,
  };
}

Object.assign(globalThis, { latchSshSignCheck: check });

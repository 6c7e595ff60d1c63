/**
 * Browser entry for test/web-webauthn.test.ts: bundled with esbuild at test time and loaded into
 * the app's page. It makes passkeys through the web authenticator's real store (IndexedDB and
 * WebCrypto, web-passkey-store.ts) in a database of its own, and tries the cross-protocol
 * crossings both ways (issue 11): a passkey asked to sign an SSH userauth request or another
 * site's assertion, and the page's SSH key asked to sign a WebAuthn assertion. It returns what it
 * signed so Node can verify it.
 */
import { decodeBase64, encodeBase64url } from '../../src/protocol/base64url.js';
import { SshWriter } from '../../src/protocol/ssh/ssh-wire.js';
import { buildAuthenticatorData } from '../../src/protocol/webauthn/authenticator-data.js';
import { rpIdHash } from '../../src/protocol/webauthn/webauthn-sign-guard.js';
import { generateWebSshKey } from '../../src/web/web-keys.js';
import { webSignSshData } from '../../src/web/web-ssh-signer.js';
import { webPasskeyStore } from '../../src/web/web-passkey-store.js';
import { WebStore } from '../../src/web/web-store.js';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'signed';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

function assertionFor(rpId: string): Uint8Array {
  const authData = buildAuthenticatorData({ rpIdHash: rpIdHash(rpId), flags: { up: true, uv: false, be: false, bs: false }, signCount: 1 });
  const data = new Uint8Array(authData.length + 32);
  data.set(authData);
  data.set(crypto.getRandomValues(new Uint8Array(32)), authData.length);
  return data;
}

async function check(): Promise<Record<string, unknown>> {
  const store = await WebStore.open(`latch-passkey-sign-check-${Date.now()}`);
  const passkeys = webPasskeyStore(store, () => 1);
  const out: Record<string, unknown> = {};
  for (const alg of [-7, -8] as const) {
    const made = await passkeys.create({ rpId: 'example.com', rpName: 'Example', userHandle: new Uint8Array([alg === -7 ? 1 : 2]), userName: 'ada', userDisplayName: 'Ada', alg });
    const stored = (await store.get('passkeys'))!.find((p) => p.id === encodeBase64url(made.id))!;
    const own = assertionFor('example.com');
    const ssh = await generateWebSshKey('check', 0);
    const userauth = new SshWriter().string(new Uint8Array(32).fill(7)).byte(50).string('me').string('ssh-connection').string('publickey').bool(true).string(ssh.type).string(decodeBase64(ssh.publicBlob)).bytes();
    out[alg] = {
      algorithm: stored.privateKey.algorithm.name,
      extractable: stored.privateKey.extractable,
      idBytes: made.id.length,
      publicKey: encodeBase64url(made.publicKey.raw),
      data: encodeBase64url(own),
      signature: encodeBase64url(await passkeys.sign(made.id, own)),
      passkeySignsSsh: await code(passkeys.sign(made.id, userauth)),
      passkeySignsOtherSite: await code(passkeys.sign(made.id, assertionFor('other.example'))),
      sshSignsAssertion: await code(webSignSshData(ssh, own)),
    };
  }
  store.close();
  return out;
}

Object.assign(globalThis, { latchPasskeySignCheck: check });

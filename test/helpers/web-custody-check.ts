/**
 * Browser entry for test/web-custody.test.ts: bundled with esbuild at test time and loaded into
 * the page, it reads the custody record from the app's IndexedDB and checks the device key
 * through the same signer the app uses (src/web/web-custody-key.ts). Signatures come back as
 * hex so the test verifies them in Node with the server's own verifier.
 */
import { webCustodySigner } from '../../src/web/web-custody-key.js';
import { loginMessage } from '../../src/custody/custody-api.js';
import { TRANSACTION_DOMAIN_TAG } from '../../src/ledger/flow/flow-transaction.js';
import { isLatchError } from '../../src/util/latch-error.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

async function custodyRecord(): Promise<any> {
  const db = await new Promise<IDBDatabase>((res, rej) => {
    const r = indexedDB.open('latch-web');
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
  return new Promise((res, rej) => {
    const r = db.transaction('kv').objectStore('kv').get('custody');
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
}

async function check(): Promise<Record<string, unknown>> {
  const c = await custodyRecord();
  const key = c.deviceKey as CryptoKey;
  const exported: Record<string, string> = {};
  for (const format of ['pkcs8', 'jwk', 'raw'] as const) {
    try {
      await crypto.subtle.exportKey(format, key);
      exported[format] = 'yes';
    } catch (e) {
      exported[format] = (e as Error).name;
    }
  }
  const signer = webCustodySigner(c);
  const refusals: Record<string, string> = {};
  const tries: Record<string, Uint8Array> = {
    random: crypto.getRandomValues(new Uint8Array(64)),
    // Flow's tag followed by bytes that are not a transaction: not a transaction message.
    flowTagGarbage: new Uint8Array([...TRANSACTION_DOMAIN_TAG, 1, 2, 3]),
    // The login tag with a challenge of the wrong length.
    loginWrongLength: loginMessage(new Uint8Array(32)).subarray(0, 63),
    sshsigLike: new TextEncoder().encode('SSHSIG\0\0\0\x03git'),
  };
  for (const [name, m] of Object.entries(tries)) {
    try {
      await signer.sign(m);
      refusals[name] = 'signed';
    } catch (e) {
      refusals[name] = isLatchError(e) ? e.code : (e as Error).name;
    }
  }
  const login = loginMessage(crypto.getRandomValues(new Uint8Array(32)));
  const sigs: string[] = [];
  for (let i = 0; i < 8; i++) sigs.push(hex(await signer.sign(login)));
  const alg = key.algorithm as EcKeyAlgorithm;
  return {
    isCryptoKey: key instanceof CryptoKey,
    type: key.type,
    extractable: key.extractable,
    algorithm: alg.name,
    namedCurve: alg.namedCurve,
    usages: key.usages,
    exported,
    refusals,
    publicKey: c.devicePublicKey,
    login: hex(login),
    sigs,
  };
}

(globalThis as any).latchCustodyCheck = check;

/**
 * Browser entry for test/web-authenticator.test.ts: bundled with esbuild at test time and
 * loaded into the page, it checks test/vectors/protocol-v1.json against the same protocol
 * module the web app bundles. Returns a list of failures (empty = all passed) and counts.
 */
import * as P from '../../src/protocol/index.js';
import { generateWebSshKey, webSshKeyInfo } from '../../src/web/web-keys.js';

const unhex = (h: string): Uint8Array => new Uint8Array((h.match(/../g) ?? []).map((b) => parseInt(b, 16)));
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/* eslint-disable @typescript-eslint/no-explicit-any */
async function check(V: any): Promise<{ checked: Record<string, number>; failures: string[] }> {
  const s = await P.sodiumReady();
  const failures: string[] = [];
  const checked: Record<string, number> = {};
  const expect = (group: string, ok: boolean, what: string): void => {
    checked[group] = (checked[group] ?? 0) + 1;
    if (!ok) failures.push(`${group}: ${what}`);
  };
  for (const v of V.queue_ids) expect('queue_ids', P.queueIdFromPublicKey(s, unhex(v.public_key)) === v.queue_id && P.isQueueId(v.queue_id), v.queue_id);
  for (const v of V.check_codes) expect('check_codes', P.checkCode(s, unhex(v.computer_public_key), unhex(v.authenticator_public_key)) === v.code, v.code);
  for (const v of V.pairing_links) {
    const link = { version: v.version, computerPublicKey: unhex(v.computer_public_key), queueId: v.queue_id, name: v.name, relayUrl: v.relay_url };
    const parsed = P.parsePairingLink(v.link);
    expect(
      'pairing_links',
      P.formatPairingLink(link) === v.link && hex(parsed.computerPublicKey) === v.computer_public_key && parsed.queueId === v.queue_id && parsed.name === v.name && parsed.relayUrl === v.relay_url,
      v.link,
    );
  }
  for (const v of V.rejected_pairing_links) {
    let code = 'accepted';
    try {
      P.parsePairingLink(v.link);
    } catch (e) {
      code = (e as { code?: string }).code ?? 'no code';
    }
    expect('rejected_pairing_links', code === v.code, `${v.link} gave ${code}`);
  }
  const keys = V.keys;
  for (const v of V.boxed_envelopes) {
    const message = v.message !== undefined ? unhex(v.message) : text(v.message_text);
    const env = P.boxMessage(s, message, unhex(v.nonce), unhex(v.recipient_public_key), unhex(v.sender_secret_key));
    const recipientSk = v.recipient_public_key === keys.authenticator_x25519_public_key ? keys.authenticator_x25519_secret_key : keys.computer_x25519_secret_key;
    const opened = P.openBoxedMessage(s, unhex(v.envelope), s.crypto_scalarmult_base(unhex(v.sender_secret_key)), unhex(recipientSk));
    expect('boxed_envelopes', hex(env) === v.envelope && hex(opened) === hex(message), v.source);
  }
  for (const v of V.sealed_envelopes) {
    const offer = P.openPairingOffer(s, unhex(v.envelope), unhex(v.computer_public_key), unhex(v.computer_secret_key));
    expect('sealed_envelopes', hex(offer.authenticatorPublicKey) === v.authenticator_public_key && offer.authenticatorQueueId === v.authenticator_queue_id, v.envelope.slice(0, 16));
  }
  for (const v of V.request_hashes) expect('request_hashes', P.requestHash(s, text(v.message_text)) === v.request_hash, v.request_hash);
  for (const v of V.rejected_messages) {
    let code = 'accepted';
    try {
      P.parseMessage(text(v.message_text));
    } catch (e) {
      code = (e as { code?: string }).code ?? 'no code';
    }
    expect('rejected_messages', code === v.code, `${v.why} gave ${code}`);
  }
  return { checked, failures };
}

/** Both key kinds the app can make (Ed25519, and the P-256 fallback), as authorized_keys lines. */
async function keyCheck(): Promise<{ line: string; extractable: boolean; algorithm: string }[]> {
  const keys = [await generateWebSshKey('ssh', 0), await generateWebSshKey('ssh', 0, { forceP256: true })];
  return keys.map((k) => ({ line: webSshKeyInfo(k).public_key, extractable: k.privateKey.extractable, algorithm: k.privateKey.algorithm.name }));
}

Object.assign(globalThis, { latchVectorCheck: check, latchKeyCheck: keyCheck });

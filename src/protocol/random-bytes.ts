/**
 * Random bytes from the OS CSPRNG through WebCrypto (Node 20 and browsers), for nonces and ids
 * on the request path. libsodium-wrappers' randombytes_buf draws the same OS source, but in Node
 * it does so from JavaScript with one crypto.randomBytes(4) call per 4 bytes: 0.07-0.17 ms for
 * one 24-byte nonce on the 2-core bench machine, against ~0.007 ms here, and a sign round trip
 * drew five of them (issue 9).
 */
export function randomBytes(length: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

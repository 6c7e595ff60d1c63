/** The Latch protocol: pure, browser-safe codecs. No I/O and no key storage here. */
export * from './protocol-constants.js';
export * from './base64url.js';
export * from './sodium.js';
export * from './queue-id.js';
export * from './pairing-link.js';
export * from './envelope.js';
export * from './check-code.js';
export * from './messages.js';

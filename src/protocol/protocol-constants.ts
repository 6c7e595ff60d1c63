/**
 * Versions, windows and timeouts of the Latch protocol (PROTOCOL.md §1).
 * Timeouts follow Krypton's published values (me 5 s, pair 90 s, sign 30 s, ack +60 s).
 */
export const PROTOCOL_VERSION = 1;

/** A message whose unix_seconds is further than this from the receiver's clock is refused (§5.3). */
export const FRESHNESS_WINDOW_SECONDS = 15 * 60;

/** Replay cache entries outlive the freshness window, so a replay inside it is always answered from cache. */
export const REPLAY_CACHE_SECONDS = 2 * FRESHNESS_WINDOW_SECONDS;

export const TIMEOUT_ME_SECONDS = 5;
export const TIMEOUT_PAIR_SECONDS = 90;
export const TIMEOUT_SIGN_SECONDS = 30;
export const ACK_EXTENSION_SECONDS = 60;

export const DEFAULT_RELAY_URL = 'http://127.0.0.1:8470';

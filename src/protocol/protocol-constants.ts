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

/**
 * A request is dropped unseen when it arrives more than this after its `deadline` (§5.2). The
 * deadline is by the computer's clock and compared with the authenticator's: the grace absorbs
 * a small difference between two clocks (`latch status`/`latch doctor` report larger ones).
 */
export const DEADLINE_GRACE_SECONDS = 10;

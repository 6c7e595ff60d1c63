/** What every screen of the page gets: storage, libsodium, the device, and the status lines. */
import type { Sodium } from '../../src/protocol/sodium.js';
import type { WebDevice, WebStore } from '../../src/web/web-store.js';
import type { Log } from '../../src/authenticator/request-core.js';
import { isLatchError } from '../../src/util/latch-error.js';

export interface AppContext {
  sodium: Sodium;
  store: WebStore;
  log: Log;
  device(): WebDevice;
  setDevice(d: WebDevice): void;
  /** The status line (role=status, under the header). */
  say(text: string): void;
  /** The alert line; '' hides it. */
  fail(text: string): void;
  /** Re-render every screen from storage. */
  refresh(): Promise<void>;
  /** Restart the relay inboxes (after pairing, unpairing, joining an account). */
  restartInbox(): void;
  /** Show a screen by its id ('requests', 'pair', ...). */
  show(screen: string): void;
}

/** A person's reading of an error: its message and, for ours, the stable code. */
export function errorText(e: unknown): string {
  if (isLatchError(e)) return `${e.message} [${e.code}]`;
  return e instanceof Error ? e.message : String(e);
}

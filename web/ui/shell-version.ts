/**
 * Which build of the app this page runs, and a warning when it changes (issue 16 §1). The
 * service worker is stamped with the shell's content hash (web/shell-stamp.mjs) and tells it on
 * request; the page shows it in the footer with the origin that served it, and remembers the last
 * one seen, so an update that the user did not expect is visible.
 *
 * This is a signal, not a defence: a hostile build can leave the warning out. The defence is to
 * serve the app from an origin one trusts (docs/WEB.md "Who the page trusts").
 */
import { byId } from './dom.js';

const SEEN_KEY = 'latch-shell-version';
const VERSION = /^[0-9a-f]{16}$/;

function seen(version: string): void {
  byId('build').textContent = `Latch web app, build ${version}, served by ${location.host}`;
  let last: string | null = null;
  try {
    last = localStorage.getItem(SEEN_KEY);
    localStorage.setItem(SEEN_KEY, version);
  } catch {
    return; // storage refused: nothing to compare with
  }
  if (last === null || last === version || !VERSION.test(last)) return;
  const notice = byId('shell-notice');
  notice.textContent =
    `The app's code changed (build ${last} → ${version}). If you did not expect an update, ` +
    `${location.host} changed what this page runs: whoever serves it can make it sign.`;
  notice.hidden = false;
}

export function watchShellVersion(): void {
  const sw = 'serviceWorker' in navigator ? navigator.serviceWorker : undefined;
  if (!sw) return;
  sw.addEventListener('message', (e: MessageEvent) => {
    const v = (e.data as { shellVersion?: unknown } | null)?.shellVersion;
    if (typeof v === 'string' && VERSION.test(v)) seen(v);
  });
  const ask = (): void => sw.controller?.postMessage('latch-shell-version');
  sw.addEventListener('controllerchange', ask);
  ask();
}

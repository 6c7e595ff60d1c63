/**
 * Starts (and restarts) the custody notice inbox of the page: join and signature requests
 * become request cards (kind 'join' / 'custody-sign', Approve once or Deny: a join grants
 * co-ownership, so no timed approvals), a recovery becomes a warning on the Account screen, and a
 * revoked key (done already) a line on the alert bar.
 */
import { serveCustodyNotices, joinTitle, type NoticeAnswer } from '../../src/web/web-custody-notices.js';
import { joinCardLines, recoveryTitle } from '../../src/authenticator/custody-notice-core.js';
import type { AppContext } from './app-context.js';
import { showRequestCard, type CardDecision } from './request-cards.js';

let serving: AbortController | undefined;

const answerOf = (d: CardDecision): NoticeAnswer => (d.kind === 'once' || d.kind === 'timed' ? 'approve' : d.kind === 'deny' ? 'deny' : 'expired');

/** Stops the custody notice inbox (the storage behind it is gone). */
export function stopCustodyNotices(): void {
  serving?.abort();
  serving = undefined;
}

/** Call on start and after an account was created; a no-op until this browser holds an account. */
export function restartCustodyNotices(ctx: AppContext): void {
  serving?.abort();
  const ctl = new AbortController();
  serving = ctl;
  void serveCustodyNotices({
    sodium: ctx.sodium,
    store: ctx.store,
    log: ctx.log,
    signal: ctl.signal,
    onChange: () => void ctx.refresh(),
    // The alert line shows on every screen; the Account screen has the Cancel button.
    onRecovery: (r) => ctx.fail(`${recoveryTitle(r)}. If this was not you, cancel it on the Account screen.`),
    // Done already, nothing to cancel: the alert line says what and what to do (the Account
    // screen's key list shows it revoked).
    onRevoked: (_r, text) => ctx.fail(text),
    askJoin: async (n, signal) =>
      answerOf(
        await showRequestCard(
          {
            kind: 'join',
            title: joinTitle(n),
            from: `${n.origin} (seen by the server)`,
            lines: [...joinCardLines(n), 'Approving makes it a co-owner of the account. Deny if you did not just ask for this.'],
            expiresAt: n.expires_at,
            timedOptions: [],
          },
          signal,
        ),
      ),
    askSign: async (n, what, signal) =>
      answerOf(
        await showRequestCard(
          { kind: 'custody-sign', title: `Sign for your account: ${what}`, from: `device "${n.device_name}"`, lines: [`Account: ${n.account}`, `Asked by: ${n.device_name}`, `What it does: ${what}`], expiresAt: n.expires_at, timedOptions: [] },
          signal,
        ),
      ),
  }).catch((e: unknown) => ctx.log(`custody inbox: ${(e as Error).message}`));
}

/** The Policies screen: live timed approvals (policy-book.ts rules), each with Revoke. */
import { MAX_POLICY_SECONDS, cleanLine, describeScope } from '../../src/authenticator/sign-review.js';
import { policyInForce } from '../../src/authenticator/policy-book.js';
import { addHistory } from '../../src/web/web-history.js';
import type { AppContext } from '../ui/app-context.js';
import { byId, formatSeconds, h } from '../ui/dom.js';

export async function renderPolicies(ctx: AppContext): Promise<void> {
  const list = byId('policies');
  const now = Math.floor(Date.now() / 1000);
  const stored = (await ctx.store.get('policies')) ?? [];
  const live = stored.filter((p) => policyInForce(p, now));
  // Unexpired but not one this app could have granted (longer than the cap): written by something
  // else into storage. Never honoured (policy-book.ts); shown so the user learns of it.
  const planted = stored.filter((p) => p.expiresAt > now && !policyInForce(p, now));
  const warning = planted.length
    ? h('li', { class: 'error', role: 'alert', text: `${planted.length} stored approval${planted.length === 1 ? '' : 's'} ignored: longer than ${MAX_POLICY_SECONDS / 3600} h, so not made by this app (${planted.map((p) => cleanLine(`${describeScope(p.scope)} for ${p.computerName}`)).join('; ')}).` })
    : undefined;
  if (live.length === 0) {
    if (warning) return list.replaceChildren(warning, h('li', { class: 'muted', text: 'None. Every request is asked.' }));
    list.replaceChildren(h('li', { class: 'muted', text: 'None. Every request is asked.' }));
    return;
  }
  list.replaceChildren(
    ...(warning ? [warning] : []),
    ...live.map((p) => {
      // Peer text (user@host, the computer's name): cleaned as on the card.
      const what = cleanLine(describeScope(p.scope));
      const computer = cleanLine(p.computerName);
      const button = h('button', { type: 'button', class: 'small', 'aria-label': `Revoke ${what} for ${computer}`, text: 'Revoke' });
      button.addEventListener('click', () => {
        void (async () => {
          await ctx.store.transact('policies', (all) => ({ write: (all ?? []).filter((x) => x.id !== p.id), value: undefined }));
          await addHistory(ctx.store, { at: Math.floor(Date.now() / 1000), kind: 'policy', title: `Revoked: ${what}`, from: p.computerName, outcome: 'revoked' });
          ctx.say(`Revoked: ${what} for ${computer}`);
          await ctx.refresh();
        })();
      });
      return h('li', {}, h('div', {}, h('strong', { text: what }), h('span', { class: 'muted', text: ` · ${computer} · ${formatSeconds(p.expiresAt - now)} left` })), button);
    }),
  );
}

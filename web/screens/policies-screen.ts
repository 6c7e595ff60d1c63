/** The Policies screen: live timed approvals (policy-book.ts rules), each with Revoke. */
import { describeScope } from '../../src/authenticator/sign-review.js';
import { addHistory } from '../../src/web/web-history.js';
import type { AppContext } from '../ui/app-context.js';
import { byId, formatSeconds, h } from '../ui/dom.js';

export async function renderPolicies(ctx: AppContext): Promise<void> {
  const list = byId('policies');
  const now = Math.floor(Date.now() / 1000);
  const live = ((await ctx.store.get('policies')) ?? []).filter((p) => p.expiresAt > now);
  if (live.length === 0) {
    list.replaceChildren(h('li', { class: 'muted', text: 'None. Every request is asked.' }));
    return;
  }
  list.replaceChildren(
    ...live.map((p) => {
      const what = describeScope(p.scope);
      const button = h('button', { type: 'button', class: 'small', 'aria-label': `Revoke ${what} for ${p.computerName}`, text: 'Revoke' });
      button.addEventListener('click', () => {
        void (async () => {
          await ctx.store.transact('policies', (all) => ({ write: (all ?? []).filter((x) => x.id !== p.id), value: undefined }));
          await addHistory(ctx.store, { at: Math.floor(Date.now() / 1000), kind: 'policy', title: `Revoked: ${what}`, from: p.computerName, outcome: 'revoked' });
          ctx.say(`Revoked: ${what} for ${p.computerName}`);
          await ctx.refresh();
        })();
      });
      return h('li', {}, h('div', {}, h('strong', { text: what }), h('span', { class: 'muted', text: ` · ${p.computerName} · ${formatSeconds(p.expiresAt - now)} left` })), button);
    }),
  );
}

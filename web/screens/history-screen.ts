/** The History screen: what was asked and answered, newest first (web-history.ts). */
import type { AppContext } from '../ui/app-context.js';
import { cleanLine } from '../../src/authenticator/sign-review.js';
import { byId, formatTime, h } from '../ui/dom.js';

export async function renderHistory(ctx: AppContext): Promise<void> {
  const list = byId('history');
  const entries = (await ctx.store.get('history')) ?? [];
  if (entries.length === 0) {
    list.replaceChildren(h('li', { class: 'muted', text: 'Nothing yet.' }));
    return;
  }
  list.replaceChildren(
    ...entries.map((e) => h('li', {}, h('div', {}, h('strong', { text: cleanLine(e.title) }), h('span', { class: 'muted', text: ` · ${cleanLine(e.from)} · ${formatTime(e.at)}` })), h('span', { class: `outcome ${/denied|expired|refused|not delivered|never delivered/.test(e.outcome) ? 'bad' : ''}`, text: cleanLine(e.outcome) }))),
  );
}

/** The Account screen (custody, issue 4 in the browser). Placeholder until custody lands in the page. */
import type { AppContext } from '../ui/app-context.js';
import { byId, h } from '../ui/dom.js';

export async function renderAccount(_ctx: AppContext): Promise<void> {
  byId('account').replaceChildren(h('p', { class: 'muted', text: 'Accounts are managed with `latch login` and `latch account` for now.' }));
}

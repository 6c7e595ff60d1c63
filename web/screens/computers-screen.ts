/**
 * The Computers screen: every pairing, with Unpair, and a per-computer opt-in to timed
 * approvals for hosts that are NOT verified (issue 3: off by default, as `latch device
 * allow-unverified`; stored in the `allowUnverifiedFor` record the review core reads). Unpairing from this side forgets the
 * pairing's keys and closes its inbox queue on the relay, so the computer's next request is
 * refused by the relay (410) instead of waiting for an answer that will never come.
 */
import { addHistory } from '../../src/web/web-history.js';
import { queueKeyOf } from '../../src/web/web-authenticator.js';
import { RelayClient } from '../../src/transport/relay-client.js';
import type { StoredPairing } from '../../src/authenticator/authenticator-state.js';
import { errorText, type AppContext } from '../ui/app-context.js';
import { byId, formatTime, h } from '../ui/dom.js';
import { lookAlikes, pairingFingerprint } from '../../src/authenticator/pairing-fingerprint.js';

export async function renderComputers(ctx: AppContext): Promise<void> {
  const list = byId('computers');
  const pairings = (await ctx.store.get('pairings')) ?? [];
  const optedIn = (await ctx.store.get('allowUnverifiedFor')) ?? [];
  if (pairings.length === 0) {
    list.replaceChildren(h('li', { class: 'muted', text: 'No computer paired yet. Run `latch pair` on your computer, then open Pair.' }));
    return;
  }
  list.replaceChildren(
    ...pairings.map((p) => {
      const button = h('button', { type: 'button', class: 'danger small', 'aria-label': `Unpair ${p.computerName}`, text: 'Unpair' });
      button.addEventListener('click', () => void unpair(ctx, p, button));
      const optId = `unverified-${p.id}`;
      const opt = h('input', { type: 'checkbox', id: optId, checked: optedIn.includes(p.id) });
      opt.addEventListener('change', () => void setUnverifiedOptIn(ctx, p, opt.checked));
      return h(
        'li',
        {},
        h(
          'div',
          {},
          h('strong', { text: p.computerName }),
          h('span', { class: 'muted', text: ` pairing ${pairingFingerprint(p)} · paired ${formatTime(p.pairedAt)} · relay ${p.relayUrl.split(',').map((u) => new URL(u).host).join(', ')}` }),
          lookAlikes(p, pairings).length ? h('p', { class: 'warn', text: `Another paired computer has a name like "${p.computerName}": tell them apart by the pairing fingerprint.` }) : undefined,
          h('div', { class: 'opt-in' }, opt, ' ', h('label', { for: optId, text: `Allow timed approvals for unverified hosts from ${p.computerName}` })),
        ),
        button,
      );
    }),
  );
}

async function setUnverifiedOptIn(ctx: AppContext, p: StoredPairing, on: boolean): Promise<void> {
  await ctx.store.transact('allowUnverifiedFor', (list) => ({ write: [...(list ?? []).filter((id) => id !== p.id), ...(on ? [p.id] : [])], value: undefined }));
  ctx.say(on ? `Timed approvals allowed for unverified hosts from ${p.computerName}` : `Unverified hosts from ${p.computerName}: approve once only`);
}

async function unpair(ctx: AppContext, p: StoredPairing, button: HTMLButtonElement): Promise<void> {
  if (button.dataset.confirm !== 'yes') {
    // Two presses: the first turns the button into a confirmation.
    button.dataset.confirm = 'yes';
    button.textContent = `Really unpair ${p.computerName}?`;
    return;
  }
  button.disabled = true;
  ctx.fail('');
  try {
    await ctx.store.transact('pairings', (list) => ({ write: (list ?? []).filter((x) => x.id !== p.id), value: undefined }));
    await ctx.store.transact('policies', (list) => ({ write: (list ?? []).filter((x) => x.pairingId !== p.id), value: undefined }));
    await ctx.store.transact('allowUnverifiedFor', (list) => ({ write: (list ?? []).filter((id) => id !== p.id), value: undefined }));
    // Best effort: the pairing is already forgotten here; an unreachable relay only delays the computer's refusal.
    await new RelayClient({ url: p.relayUrl }).close(queueKeyOf(p), 'unpaired by the authenticator').catch((e: unknown) => ctx.log(`could not close the queue of ${p.computerName}: ${errorText(e)}`));
    await addHistory(ctx.store, { at: Math.floor(Date.now() / 1000), kind: 'unpair', title: `Unpaired ${p.computerName}`, from: 'this device', outcome: 'unpaired' });
    ctx.say(`Unpaired ${p.computerName}`);
    ctx.restartInbox();
  } catch (e) {
    ctx.fail(`Could not unpair: ${errorText(e)}`);
  }
  await ctx.refresh();
}

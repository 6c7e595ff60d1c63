/**
 * The Keys screen: this device's SSH public keys (authorized_keys lines), and its passkeys
 * (issue 11) with Delete. Deleting forgets the credential and its non-extractable key for good:
 * the site keeps its copy of the public key, so the person should remove it there too.
 */
import { webDeviceInfo } from '../../src/web/web-authenticator.js';
import { listWebPasskeys, removeWebPasskey } from '../../src/web/web-passkey-store.js';
import { cleanLine } from '../../src/authenticator/sign-review.js';
import { addHistory } from '../../src/web/web-history.js';
import type { WebPasskey } from '../../src/web/web-store.js';
import { errorText, type AppContext } from '../ui/app-context.js';
import { byId, formatTime, h } from '../ui/dom.js';

export async function renderKeys(ctx: AppContext): Promise<void> {
  byId('ssh-key').textContent = webDeviceInfo(ctx.device()).ssh_keys.map((k) => k.public_key).join('\n');
  const passkeys = await listWebPasskeys(ctx.store);
  const list = byId('passkeys');
  if (passkeys.length === 0) {
    list.replaceChildren(h('li', { class: 'muted', text: 'No passkey yet. A site asks for one through the Latch browser extension on a paired computer.' }));
    return;
  }
  list.replaceChildren(
    ...[...passkeys]
      .sort((a, b) => a.rpId.localeCompare(b.rpId) || a.userName.localeCompare(b.userName))
      .map((p) => {
        const label = `${cleanLine(p.rpId)} as ${cleanLine(p.userName)}`;
        const button = h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete the passkey for ${label}`, text: 'Delete' });
        button.addEventListener('click', () => void remove(ctx, p, label, button));
        return h(
          'li',
          { 'data-passkey': p.id },
          h(
            'div',
            {},
            h('strong', { text: label }),
            h('span', {
              class: 'muted',
              text: ` ('${cleanLine(p.rpName)}', as the site names itself) · ${p.alg === -7 ? 'ES256 (P-256)' : 'EdDSA (Ed25519)'} · made ${formatTime(p.createdAt)}${p.lastUsedAt !== undefined ? ` · last used ${formatTime(p.lastUsedAt)}` : ''} · used ${p.signCount} time${p.signCount === 1 ? '' : 's'}`,
            }),
          ),
          button,
        );
      }),
  );
}

async function remove(ctx: AppContext, p: WebPasskey, label: string, button: HTMLButtonElement): Promise<void> {
  if (button.dataset.confirm !== 'yes') {
    // Two presses, as Unpair: the first turns the button into a confirmation.
    button.dataset.confirm = 'yes';
    button.textContent = `Really delete the passkey for ${label}?`;
    button.setAttribute('aria-label', button.textContent);
    return;
  }
  button.disabled = true;
  ctx.fail('');
  try {
    if (await removeWebPasskey(ctx.store, p.id)) {
      await addHistory(ctx.store, { at: Math.floor(Date.now() / 1000), kind: 'webauthn', title: `Deleted the passkey for ${label}`, from: 'this device', outcome: 'deleted' });
    }
    ctx.say(`Deleted the passkey for ${label}. Remove it on the site too.`);
  } catch (e) {
    ctx.fail(`Could not delete the passkey: ${errorText(e)}`);
  }
  await ctx.refresh();
}

/**
 * The Account screen (custody, docs/CUSTODY.md, in the browser): sign in by email → code →
 * create the account → the account's address, this device's key index, the keys and devices
 * (role, weight, revoked) from the server, the recovery kit's state, and any recovery under
 * way with a Cancel button. Also fills the Keys screen's `#account-keys` part (this device's
 * custody public key), so the Keys screen's own module does not need to know about custody.
 */
import { addRecoveryKey, cancelLogin, cancelRecovery, changeLink, checkRecoveryPassphrase, completeLogin, createAccount, fetchAccount, loadCustody, NO_RECOVERY_REMINDER, startLogin, type RecoveryKitDownload } from '../../src/web/web-custody.js';
import { linkCardLines } from '../../src/authenticator/custody-notice-core.js';
import type { AccountView } from '../../src/sdk/custody-client.js';
import type { WebCustody } from '../../src/web/web-custody-state.js';
import { LatchError } from '../../src/util/latch-error.js';
import { errorText, type AppContext } from '../ui/app-context.js';
import { restartCustodyNotices } from '../ui/custody-notices.js';
import { byId, formatTime, h } from '../ui/dom.js';

type Stage = 'signin' | 'code' | 'create' | 'account';

let shownStage: Stage | undefined;
let generation = 0;
/** The kit made in this page load, offered again until the page closes (it is encrypted). */
let lastKit: RecoveryKitDownload | undefined;
/** The add-recovery form survives re-renders, so a half-typed passphrase is not wiped. */
let kitForm: { account: string; el: HTMLElement } | undefined;

const SYNC_HINT = 'Move it to a synced cloud folder (Dropbox, iCloud Drive, Google Drive, OneDrive, …): a kit that lives only on this device is lost with it. Keep the passphrase apart from the kit.';

/** Hand the kit to the browser as a download (a Blob: nothing leaves the page but the file). */
function download(kit: RecoveryKitDownload): void {
  const url = URL.createObjectURL(new Blob([kit.text], { type: 'application/json' }));
  const a = h('a', { href: url, download: kit.fileName, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function passphraseFields(prefix: string): { fields: Node[]; value(): string | undefined } {
  const first = h('input', { id: `${prefix}-pass`, type: 'password', autocomplete: 'new-password' });
  const again = h('input', { id: `${prefix}-pass-again`, type: 'password', autocomplete: 'new-password' });
  return {
    fields: [h('label', { for: first.id, text: 'Recovery passphrase' }), first, h('label', { for: again.id, text: 'Repeat the recovery passphrase' }), again],
    value: () => {
      if (first.value === '' && again.value === '') return undefined;
      checkRecoveryPassphrase(first.value, again.value);
      return first.value;
    },
  };
}

function kitSaved(): HTMLElement {
  const again = h('button', { type: 'button', class: 'small', text: 'Download the recovery kit again' });
  again.addEventListener('click', () => lastKit && download(lastKit));
  return h('div', {}, h('p', { text: `Recovery kit downloaded as ${lastKit!.fileName}. ${SYNC_HINT}` }), again);
}

function stageOf(c: WebCustody | undefined): Stage {
  if (c?.account) return 'account';
  if (c?.refreshToken) return 'create';
  if (c?.pendingLogin) return 'code';
  return 'signin';
}

/** Runs `work` with `button` disabled; errors go to the alert line. */
async function act(ctx: AppContext, button: HTMLButtonElement, work: () => Promise<string>): Promise<void> {
  button.disabled = true;
  ctx.fail('');
  try {
    ctx.say(await work());
    shownStage = undefined; // the stage changed: draw the screen again
    await ctx.refresh();
  } catch (e) {
    ctx.fail(errorText(e));
  } finally {
    button.disabled = false;
  }
}

function form(onSubmit: () => void, ...children: Node[]): HTMLFormElement {
  const f = h('form', {}, ...children);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    onSubmit();
  });
  return f;
}

function signInForm(ctx: AppContext): HTMLElement {
  const email = h('input', { id: 'custody-email', type: 'email', autocomplete: 'email', required: true });
  const send = h('button', { type: 'submit', class: 'primary', text: 'Send code' });
  return h(
    'div',
    {},
    h('p', { text: 'Sign in to hold a key of a custody account on this device. The server mails you a one-time code.' }),
    form(() => void act(ctx, send, async () => (await startLogin(ctx.store, location.origin, email.value), `A one-time code was sent to ${email.value.trim().toLowerCase()}.`)), h('label', { for: email.id, text: 'Email' }), email, h('div', { class: 'buttons' }, send)),
  );
}

function codeForm(ctx: AppContext, c: WebCustody): HTMLElement {
  const code = h('input', { id: 'custody-code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: '6', required: true });
  const signIn = h('button', { type: 'submit', class: 'primary', text: 'Sign in' });
  const other = h('button', { type: 'button', text: 'Use another email' });
  other.addEventListener('click', () => void act(ctx, other, async () => (await cancelLogin(ctx.store), '')));
  return h(
    'div',
    {},
    h('p', { text: `Enter the 6-digit code sent to ${c.pendingLogin?.email ?? ''}.` }),
    form(() => void act(ctx, signIn, async () => `Signed in as ${(await completeLogin(ctx.store, code.value)).email}.`), h('label', { for: code.id, text: 'Code' }), code, h('div', { class: 'buttons' }, other, signIn)),
  );
}

function createForm(ctx: AppContext, c: WebCustody): HTMLElement {
  const name = h('input', { id: 'custody-device-name', type: 'text', maxlength: '64', autocomplete: 'off', value: ctx.device().name });
  const pass = passphraseFields('create');
  const create = h('button', { type: 'submit', class: 'primary', text: 'Create account' });
  return h(
    'div',
    {},
    h('p', { text: `Signed in as ${c.email ?? ''}. Create an account: this device holds key 0, the server key 1 and, if you make a recovery kit, the kit key 2; any two keys can sign.` }),
    form(
      () =>
        void act(ctx, create, async () => {
          const passphrase = pass.value();
          const made = await createAccount(ctx.store, ctx.sodium, name.value, passphrase);
          restartCustodyNotices(ctx);
          if (made.kit) {
            lastKit = made.kit;
            download(made.kit);
          }
          return `Account ${made.custody.account} created.`;
        }),
      h('label', { for: name.id, text: "This device's name" }),
      name,
      h('h3', { text: 'Recovery kit' }),
      h('p', { class: 'muted', text: 'A recovery passphrase makes a recovery kit: a file with the recovery key, encrypted under the passphrase, the same as `latch account create --recovery-dir` writes. Leave it empty to skip (you can make one later).' }),
      ...pass.fields,
      h('div', { class: 'buttons' }, create),
    ),
  );
}

function addKitForm(ctx: AppContext, c: WebCustody): HTMLElement {
  if (kitForm && kitForm.account === c.account) return kitForm.el;
  const pass = passphraseFields('add');
  const make = h('button', { type: 'submit', class: 'primary', text: 'Make recovery kit' });
  const el = form(
    () =>
      void act(ctx, make, async () => {
        const passphrase = pass.value();
        if (passphrase === undefined) throw new LatchError('passphrase_required', 'choose a recovery passphrase');
        lastKit = await addRecoveryKey(ctx.store, ctx.sodium, passphrase);
        download(lastKit);
        kitForm = undefined;
        return 'Recovery key added to the account.';
      }),
    ...pass.fields,
    h('div', { class: 'buttons' }, make),
  );
  kitForm = { account: c.account!, el };
  return el;
}

function recoveryWarnings(ctx: AppContext, c: WebCustody): HTMLElement[] {
  const now = Math.floor(Date.now() / 1000);
  return (c.recoveries ?? []).map((r) => {
    const cancel = h('button', { type: 'button', class: 'danger small', text: 'Cancel recovery' });
    cancel.addEventListener('click', () => void act(ctx, cancel, async () => (await cancelRecovery(ctx.store, r.id), `Recovery ${r.id} cancelled.`)));
    return h(
      'div',
      { class: 'alert', role: 'alert' },
      h('strong', { text: `Recovery of ${r.account} started by a new device "${r.deviceName}".` }),
      h('p', { text: `${r.readyAt > now ? `It completes at ${formatTime(r.readyAt)}` : 'Its delay is over'}. If this was not you, cancel it here or with: latch account recover --cancel ${r.id}` }),
      cancel,
    );
  });
}

async function accountView(ctx: AppContext, c: WebCustody): Promise<HTMLElement> {
  const head = h(
    'dl',
    { class: 'facts' },
    h('dt', { text: 'Account' }),
    h('dd', { class: 'mono', text: c.account! }),
    h('dt', { text: 'This device' }),
    h('dd', { text: `key ${c.keyIndex}` }),
    h('dt', { text: 'Signed in as' }),
    h('dd', { text: c.email ?? '' }),
  );
  let keys: HTMLElement;
  let kit: HTMLElement;
  let links: HTMLElement;
  try {
    const a = await fetchAccount(ctx.store, c);
    head.append(h('dt', { text: 'Balance' }), h('dd', { text: `${a.balance} FLOW${a.self_custody ? ' (self-custody: the server key is revoked)' : ''}` }));
    keys = h(
      'ul',
      { class: 'rows', id: 'account-key-list', 'aria-label': 'Keys and devices' },
      ...a.keys.map((k) =>
        h(
          'li',
          { class: k.revoked ? 'revoked' : '' },
          h('div', {}, h('strong', { text: `Key ${k.index} · ${k.role}${k.device_name ? ` · ${k.device_name}` : ''}` }), Number(k.index) === c.keyIndex ? h('span', { class: 'muted', text: ' (this device)' }) : null),
          h('span', { class: `outcome ${k.revoked ? 'bad' : ''}`, text: `weight ${k.weight} · ${k.revoked ? 'revoked' : 'active'}` }),
        ),
      ),
    );
    const recovery = a.keys.find((k) => k.role === 'recovery' && !k.revoked);
    kit = recovery
      ? lastKit?.publicKey === recovery.public_key
        ? kitSaved()
        : h('p', { text: `The account has a recovery key (key ${recovery.index}); its kit was saved where it was made. Keep it and its passphrase apart.` })
      : h('div', {}, h('p', { class: 'warning', text: NO_RECOVERY_REMINDER }), addKitForm(ctx, c));
    links = linksSection(ctx, c, a);
  } catch (e) {
    keys = h('p', { class: 'error', text: `Cannot read the account from the server: ${errorText(e)}` });
    kit = h('p', { class: 'muted', text: c.recoveryMissing ? NO_RECOVERY_REMINDER : '' });
    links = h('p', { class: 'muted', text: '' });
  }
  // Changes made from other devices (a revoke, self-custody) reach the page only when it reads again.
  const reread = h('button', { type: 'button', class: 'small', text: 'Refresh account' });
  reread.addEventListener('click', () => void act(ctx, reread, async () => 'Account read from the server.'));
  return h('div', {}, ...recoveryWarnings(ctx, c), head, h('h3', { text: 'Keys and devices' }), keys, h('div', { class: 'buttons' }, reread), h('h3', { text: 'Recovery kit' }), kit, h('h3', { text: 'Linked accounts' }), links);
}

/**
 * Linked accounts (Hybrid Custody, docs/CUSTODY.md "Account linking"): the account's parents,
 * each with Unlink, its children, and a form whose Review step shows the link card (the same
 * words as `latch account link` and `latch device run`) before anything is signed.
 */
function linksSection(ctx: AppContext, c: WebCustody, a: AccountView): HTMLElement {
  if (!a.links_known) return h('p', { class: 'muted', text: 'Links cannot be read from this ledger yet.' });
  const parents = h(
    'ul',
    { class: 'rows', id: 'account-parent-list', 'aria-label': 'Parent accounts' },
    ...a.parents.map((p) => {
      const unlink = h('button', { type: 'button', class: 'danger small', text: 'Unlink' });
      unlink.addEventListener('click', () => void act(ctx, unlink, async () => (await changeLink(ctx.store, 'unlink', p.address), `Unlinked ${p.address}: it can no longer act on this account.`)));
      return h('li', {}, h('div', {}, h('strong', { class: 'mono', text: p.address }), h('span', { class: 'muted', text: p.state === 'redeemed' ? ' parent: can move everything in this account' : ' published, not yet redeemed by the parent' })), unlink);
    }),
  );
  const children = a.children.length === 0 ? h('p', { class: 'muted', text: 'No child accounts.' }) : h('ul', { class: 'rows', id: 'account-child-list', 'aria-label': 'Child accounts' }, ...a.children.map((x) => h('li', { class: 'mono', text: x })));
  const address = h('input', { id: 'link-parent', type: 'text', autocomplete: 'off', pattern: '(0x)?[0-9a-fA-F]{16}', placeholder: '0x…', required: true });
  const card = h('div', { id: 'link-card' });
  const review = h('button', { type: 'submit', text: 'Review link' });
  const showCard = (): void => {
    ctx.fail('');
    const raw = address.value.trim();
    if (!/^(0x)?[0-9a-fA-F]{16}$/.test(raw)) return ctx.fail('the parent is a Flow address: 0x and 16 hex digits');
    const parent = `0x${raw.replace(/^0x/, '').toLowerCase()}`;
    const approve = h('button', { type: 'button', class: 'danger', text: 'Link' });
    const cancel = h('button', { type: 'button', text: 'Cancel' });
    approve.addEventListener('click', () => void act(ctx, approve, async () => {
      const out = await changeLink(ctx.store, 'link', parent);
      return out.already ? `Already linked to ${parent}; nothing was sent.` : `Linked to ${parent}. The parent now redeems it: latch account redeem ${c.account} --parent-key FILE`;
    }));
    cancel.addEventListener('click', () => card.replaceChildren());
    const [first, ...rest] = linkCardLines(parent, c.account!);
    card.replaceChildren(h('div', { class: 'alert', role: 'alert' }, h('strong', { text: first! }), ...rest.map((line) => h('p', { text: line })), h('div', { class: 'buttons' }, cancel, approve)));
  };
  return h(
    'div',
    { id: 'account-links' },
    h('h4', { text: 'Parents' }),
    a.parents.length === 0 ? h('p', { class: 'muted', text: 'No parent accounts.' }) : parents,
    h('h4', { text: 'Children' }),
    children,
    form(showCard, h('label', { for: address.id, text: 'Link this account to a parent wallet you own' }), address, h('div', { class: 'buttons' }, review)),
    card,
  );
}

function renderAccountKeys(c: WebCustody | undefined): void {
  const el = byId('account-keys');
  if (!c) {
    el.replaceChildren(h('h3', { text: 'Custody' }), h('p', { class: 'muted', text: 'No custody key yet: it is made when you sign in on the Account screen.' }));
    return;
  }
  el.replaceChildren(
    h('h3', { text: 'Custody device key' }),
    h('pre', { id: 'custody-public-key', tabindex: '0', 'aria-label': 'Custody public key', text: c.devicePublicKey }),
    h('p', { class: 'muted', text: `ECDSA P-256 with SHA-256 (Flow's ECDSA_P256/SHA2_256), not extractable. It signs only Flow transactions and Latch login challenges${c.account ? `, as key ${c.keyIndex} of ${c.account}` : ''}.` }),
  );
}

export async function renderAccount(ctx: AppContext): Promise<void> {
  const gen = ++generation;
  const c = await loadCustody(ctx.store);
  renderAccountKeys(c);
  const stage = stageOf(c);
  // Forms keep what the user typed: they are drawn again only when the stage changes.
  if (stage !== 'account' && stage === shownStage) return;
  const view = stage === 'signin' ? signInForm(ctx) : stage === 'code' ? codeForm(ctx, c!) : stage === 'create' ? createForm(ctx, c!) : await accountView(ctx, c!);
  if (gen !== generation) return; // a newer render started while this one read the server
  shownStage = stage;
  byId('account').replaceChildren(view);
}

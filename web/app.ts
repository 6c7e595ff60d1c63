/**
 * The web authenticator's page (issue 5, foundation): pairing by pasted link, the device's
 * keys, and answering `me` while the page is open. Bundled by web/build.mjs with esbuild.
 */
import { sodiumReady } from '../src/protocol/sodium.js';
import { parsePairingLink, validateName } from '../src/protocol/pairing-link.js';
import { isLatchError } from '../src/util/latch-error.js';
import { WebStore } from '../src/web/web-store.js';
import { loadOrCreateDevice, pairWithLink, serveRequests, webDeviceInfo } from '../src/web/web-authenticator.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const linkField = $<HTMLTextAreaElement>('pairing-link');
const nameField = $<HTMLInputElement>('device-name');
const pairButton = $<HTMLButtonElement>('pair');
const scanButton = $<HTMLButtonElement>('scan');
const checkCodeEl = $<HTMLElement>('check-code');
const statusEl = $<HTMLElement>('status');
const errorEl = $<HTMLElement>('error');
const computersEl = $<HTMLUListElement>('computers');
const sshKeyEl = $<HTMLElement>('ssh-key');
const inboxEl = $<HTMLElement>('inbox');

function say(text: string): void {
  statusEl.textContent = text;
}
function fail(text: string): void {
  errorEl.textContent = text;
  errorEl.hidden = text === '';
}
function message(e: unknown): string {
  if (isLatchError(e)) return `${e.message} [${e.code}]`;
  return e instanceof Error ? e.message : String(e);
}
const log = (line: string): void => console.info(`[latch] ${line}`);

async function main(): Promise<void> {
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('./sw.js').catch((e: unknown) => log(`service worker not registered: ${message(e)}`));
  }
  // Ask the browser not to evict the keys under storage pressure (best effort).
  void navigator.storage?.persist?.().catch(() => false);
  const [sodium, store] = await Promise.all([sodiumReady(), WebStore.open()]);
  let device = await loadOrCreateDevice(sodium, store, 'Web authenticator');
  nameField.value = device.name;

  async function render(): Promise<void> {
    const pairings = (await store.get('pairings')) ?? [];
    computersEl.replaceChildren(
      ...pairings.map((p) => {
        const li = document.createElement('li');
        li.textContent = `${p.computerName} (paired ${new Date(p.pairedAt * 1000).toLocaleString()})`;
        return li;
      }),
    );
    if (pairings.length === 0) {
      const li = document.createElement('li');
      li.textContent = 'No computer paired yet. Run `latch pair` on your computer.';
      computersEl.append(li);
    }
    sshKeyEl.textContent = webDeviceInfo(device).ssh_keys.map((k) => k.public_key).join('\n');
    const last = pairings.at(-1);
    if (last && statusEl.textContent === '') say(`Paired with ${last.computerName}`);
  }

  let serving: AbortController | undefined;
  function serve(): void {
    serving?.abort();
    const ctl = new AbortController();
    serving = ctl;
    inboxEl.textContent = 'Connecting to the relay…';
    void serveRequests({
      sodium,
      store,
      log,
      signal: ctl.signal,
      onStatus: (s) => {
        if (ctl.signal.aborted) return;
        inboxEl.textContent = s === 'connected' ? 'Listening for requests.' : 'Relay unreachable; retrying.';
        document.body.dataset.inbox = s;
      },
    });
  }

  let pairing = false;
  async function pair(): Promise<void> {
    if (pairing) return;
    fail('');
    checkCodeEl.textContent = '';
    let link;
    try {
      link = parsePairingLink(linkField.value);
    } catch (e) {
      fail(`That is not a pairing link: ${message(e)}`);
      linkField.focus();
      return;
    }
    pairing = true;
    pairButton.disabled = true;
    try {
      const name = validateName(nameField.value, 'device name');
      if (name !== device.name) {
        const renamed = { ...device, name };
        await store.put('device', renamed);
        device = renamed;
      }
      say(`Pairing with ${link.name}… compare the check code with your computer.`);
      const p = await pairWithLink({ sodium, store, link, log, onCheckCode: (code) => (checkCodeEl.textContent = `Check code: ${code}`) });
      say(`Paired with ${p.computerName}`);
      linkField.value = '';
      await render();
      serve();
    } catch (e) {
      say('');
      fail(`Pairing failed: ${message(e)}`);
    } finally {
      pairing = false;
      pairButton.disabled = false;
    }
  }

  pairButton.addEventListener('click', () => void pair());
  $<HTMLFormElement>('pair-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void pair();
  });
  scanButton.addEventListener('click', () => {
    fail('');
    say('Camera not available yet, paste the link into "Pairing link".');
    linkField.focus();
  });

  await render();
  serve();
  document.body.dataset.ready = 'true';
}

main().catch((e: unknown) => {
  fail(`The authenticator could not start: ${message(e)}`);
  document.body.dataset.ready = 'error';
});

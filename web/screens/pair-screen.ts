/** The Pair screen: a pairing link from the camera (Scan) or pasted, then PROTOCOL.md §4 steps 2 and 4. */
import { parsePairingLink, validateName } from '../../src/protocol/pairing-link.js';
import { pairWithLink } from '../../src/web/web-authenticator.js';
import { addHistory } from '../../src/web/web-history.js';
import { errorText, type AppContext } from '../ui/app-context.js';
import { byId } from '../ui/dom.js';
import { scanQrCode } from '../ui/qr-scanner.js';
import { offerPushAfterPairing } from '../ui/push-control.js';

export function setupPairScreen(ctx: AppContext): void {
  const linkField = byId<HTMLTextAreaElement>('pairing-link');
  const nameField = byId<HTMLInputElement>('device-name');
  const pairButton = byId<HTMLButtonElement>('pair');
  const scanButton = byId<HTMLButtonElement>('scan');
  const checkCodeEl = byId('check-code');
  const scanner = byId('scanner');
  const video = byId<HTMLVideoElement>('scan-video');
  const scanStatus = byId('scan-status');
  nameField.value = ctx.device().name;

  let pairing = false;
  async function pair(text: string): Promise<void> {
    if (pairing) return;
    ctx.fail('');
    checkCodeEl.textContent = '';
    let link;
    try {
      link = parsePairingLink(text);
    } catch (e) {
      ctx.fail(`That is not a pairing link: ${errorText(e)}`);
      linkField.focus();
      return;
    }
    pairing = true;
    pairButton.disabled = true;
    scanButton.disabled = true;
    try {
      const name = validateName(nameField.value, 'device name');
      if (name !== ctx.device().name) {
        const renamed = { ...ctx.device(), name };
        await ctx.store.put('device', renamed);
        ctx.setDevice(renamed);
      }
      ctx.say(`Pairing with ${link.name}… compare the check code with your computer.`);
      const { sodium, store, log } = ctx;
      const p = await pairWithLink({ sodium, store, link, log, onCheckCode: (code) => (checkCodeEl.textContent = `Check code: ${code}`) });
      ctx.say(`Paired with ${p.computerName}`);
      linkField.value = '';
      await addHistory(store, { at: Math.floor(Date.now() / 1000), kind: 'pair', title: `Paired with ${p.computerName}`, from: p.computerName, outcome: 'paired', pin: { pairing: p.id } });
      await ctx.refresh();
      ctx.restartInbox();
      offerPushAfterPairing(ctx);
    } catch (e) {
      ctx.say('');
      ctx.fail(`Pairing failed: ${errorText(e)}`);
    } finally {
      pairing = false;
      pairButton.disabled = false;
      scanButton.disabled = false;
    }
  }

  let scanning: AbortController | undefined;
  function stopScan(): void {
    scanning?.abort();
    scanning = undefined;
    scanner.hidden = true;
  }
  async function scan(): Promise<void> {
    ctx.fail('');
    stopScan();
    const ctl = new AbortController();
    scanning = ctl;
    scanner.hidden = false;
    try {
      const text = await scanQrCode(video, ctl.signal, (s) => (scanStatus.textContent = s));
      stopScan();
      linkField.value = text;
      await pair(text);
    } catch (e) {
      const stoppedByUser = ctl.signal.aborted;
      stopScan();
      if (stoppedByUser) return;
      // A sentence a person reads first ("Camera permission denied [camera_denied].") and where to go instead.
      const why = errorText(e);
      ctx.fail(`${why.charAt(0).toUpperCase()}${why.slice(1)}. Paste the link into "Pairing link" instead.`);
      linkField.focus();
    }
  }

  byId<HTMLFormElement>('pair-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void pair(linkField.value);
  });
  scanButton.addEventListener('click', () => void scan());
  byId('scan-stop').addEventListener('click', stopScan);
}

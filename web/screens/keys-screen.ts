/** The Keys screen: this device's SSH public keys (authorized_keys lines). */
import { webDeviceInfo } from '../../src/web/web-authenticator.js';
import type { AppContext } from '../ui/app-context.js';
import { byId } from '../ui/dom.js';

export async function renderKeys(ctx: AppContext): Promise<void> {
  byId('ssh-key').textContent = webDeviceInfo(ctx.device()).ssh_keys.map((k) => k.public_key).join('\n');
}

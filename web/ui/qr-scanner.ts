/** Camera QR scanning for pairing links. (Placeholder until the camera lands.) */
import { LatchError } from '../../src/util/latch-error.js';

export async function scanQrCode(_video: HTMLVideoElement, _signal: AbortSignal, _onStatus: (text: string) => void): Promise<string> {
  throw new LatchError('camera_unavailable', 'camera scanning is not available yet; paste the link');
}

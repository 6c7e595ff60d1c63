/**
 * Camera QR scanning for pairing links (issue 5, "Camera"): getUserMedia into the page's
 * <video>, frames drawn to a canvas a few times a second and decoded, the first QR code's text
 * returned. The text is not trusted here: the Pair screen gives it to `parsePairingLink` like a
 * pasted link (PROTOCOL.md §4.1).
 *
 * Decoder: the browser's own `BarcodeDetector` where it has `qr_code` (Chromium on Android,
 * macOS, ChromeOS), else zxing-wasm (ZXing-C++ built to WebAssembly). Its wasm is served by
 * `latch server` beside app.js, never from the CDN the library defaults to: a pairing must not
 * depend on a third party being up (or let it see who pairs), and the page's CSP allows only
 * our origin (connect-src 'self', script-src 'wasm-unsafe-eval' to compile it).
 */
import { prepareZXingModule, purgeZXingModule, readBarcodes } from 'zxing-wasm/reader';
import { LatchError } from '../../src/util/latch-error.js';

/** web/build.mjs copies node_modules/zxing-wasm/dist/reader/zxing_reader.wasm here. */
export const ZXING_WASM_FILE = 'zxing_reader.wasm';
/** Between decodes: a QR held up to a camera is found within a few frames; a busy loop would only burn a phone's battery. */
const FRAME_INTERVAL_MS = 200;
/** Decoding cost grows with pixels; a pairing QR (version ≤ 10) reads fine at this size. */
const MAX_DECODE_SIDE = 960;
/** The camera is not left on forever when nobody points it at anything. */
const SCAN_LIMIT_MS = 120_000;

type Decode = (frame: HTMLCanvasElement) => Promise<string | undefined>;

/** The Shape Detection API's BarcodeDetector (WICG); not in TypeScript's DOM lib. */
interface NativeBarcodeDetector {
  detect(source: HTMLCanvasElement): Promise<{ rawValue: string }[]>;
}
interface NativeBarcodeDetectorClass {
  new (options: { formats: string[] }): NativeBarcodeDetector;
  getSupportedFormats(): Promise<string[]>;
}

// One overrides object, so zxing-wasm's shallow equality keeps the instantiated module across scans.
const zxingOverrides = {
  locateFile: (path: string, prefix: string): string => (path.endsWith('.wasm') ? new URL(ZXING_WASM_FILE, import.meta.url).href : prefix + path),
};

/**
 * Scans until a QR code is read, then stops the camera and returns its text. Stops the camera
 * on abort and on error too. Errors are LatchErrors: `camera_unavailable` (no mediaDevices: not a
 * secure context), `camera_denied`, `no_camera`, `camera_failed`, `decoder_unavailable`,
 * `decoder_failed`, `scan_timeout`; an abort rejects with the signal's reason.
 */
export async function scanQrCode(video: HTMLVideoElement, signal: AbortSignal, onStatus: (text: string) => void): Promise<string> {
  signal.throwIfAborted();
  // Navigator.mediaDevices is [SecureContext] (W3C Media Capture and Streams): HTTPS, or http://localhost.
  if (!globalThis.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    throw new LatchError('camera_unavailable', 'the camera needs this app opened over HTTPS (or on localhost)');
  }
  onStatus('Starting the camera…');
  const decoderReady = chooseDecoder();
  decoderReady.catch(() => undefined); // awaited below; not an unhandled rejection if the camera fails first
  let stream: MediaStream | undefined;
  try {
    stream = await untilAborted(openCamera(), signal, stopTracks);
    video.srcObject = stream;
    video.muted = true;
    video.playsInline = true;
    await untilAborted(
      video.play().catch((e: unknown) => {
        throw new LatchError('camera_failed', 'the camera preview could not start', { cause: e });
      }),
      signal,
    );
    onStatus('Loading the QR decoder…');
    const decode = await untilAborted(decoderReady, signal);
    onStatus('Point the camera at the QR code that latch pair shows.');
    const canvas = document.createElement('canvas');
    const deadline = Date.now() + SCAN_LIMIT_MS;
    for (;;) {
      signal.throwIfAborted();
      if (stream.getVideoTracks().every((t) => t.readyState === 'ended')) throw new LatchError('camera_failed', 'the camera stopped');
      if (Date.now() > deadline) throw new LatchError('scan_timeout', `no QR code found in ${SCAN_LIMIT_MS / 60_000} minutes`);
      if (drawFrame(video, canvas)) {
        const text = await decode(canvas).catch((e: unknown) => {
          throw new LatchError('decoder_failed', 'the QR decoder failed', { cause: e });
        });
        if (text !== undefined) {
          signal.throwIfAborted(); // "Stop camera" pressed while this frame was decoding: do not pair after all
          onStatus('QR code read.');
          return text;
        }
      }
      await sleep(FRAME_INTERVAL_MS, signal);
    }
  } finally {
    if (stream) stopTracks(stream);
    video.pause();
    video.srcObject = null;
  }
}

async function openCamera(): Promise<MediaStream> {
  try {
    // `ideal` facing (not `exact`): a laptop's only camera faces the user and must still work.
    // 720p where the camera has it (the default is often 640x480): a QR code drawn in a terminal
    // has small modules, and more pixels on them read more reliably; never an error if not.
    return await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
  } catch (e) {
    throw cameraError(e);
  }
}

/** getUserMedia's DOMException names (W3C Media Capture and Streams, getUserMedia()) as stable codes. */
function cameraError(e: unknown): LatchError {
  const name = e instanceof Error ? e.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError') return new LatchError('camera_denied', 'camera permission denied', { cause: e });
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return new LatchError('no_camera', 'no camera found', { cause: e });
  if (name === 'NotReadableError' || name === 'AbortError') return new LatchError('camera_failed', 'the camera could not start (is another app using it?)', { cause: e });
  return new LatchError('camera_failed', `the camera could not start${name ? ` (${name})` : ''}`, { cause: e });
}

/** Draws the current video frame, scaled down to MAX_DECODE_SIDE; false while there is no frame yet. */
function drawFrame(video: HTMLVideoElement, canvas: HTMLCanvasElement): boolean {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || w === 0 || h === 0) return false;
  const scale = Math.min(1, MAX_DECODE_SIDE / Math.max(w, h));
  const cw = Math.round(w * scale);
  const ch = Math.round(h * scale);
  if (canvas.width !== cw || canvas.height !== ch) {
    canvas.width = cw;
    canvas.height = ch;
  }
  const g = canvas.getContext('2d', { willReadFrequently: true });
  if (!g) throw new LatchError('camera_failed', 'this browser cannot read camera frames');
  g.drawImage(video, 0, 0, cw, ch);
  return true;
}

async function chooseDecoder(): Promise<Decode> {
  const Native = (globalThis as { BarcodeDetector?: NativeBarcodeDetectorClass }).BarcodeDetector;
  if (Native) {
    const formats = await Native.getSupportedFormats().catch(() => [] as string[]);
    if (formats.includes('qr_code')) {
      const detector = new Native({ formats: ['qr_code'] });
      return async (frame) => (await detector.detect(frame)).find((b) => b.rawValue !== '')?.rawValue;
    }
  }
  try {
    await prepareZXingModule({ overrides: zxingOverrides, fireImmediately: true });
  } catch (e) {
    // zxing-wasm caches the module promise, rejected ones too: forget it so the next Scan retries.
    purgeZXingModule();
    throw new LatchError('decoder_unavailable', 'the QR decoder could not load', { cause: e });
  }
  return async (frame) => {
    const g = frame.getContext('2d', { willReadFrequently: true });
    if (!g) return undefined;
    const results = await readBarcodes(g.getImageData(0, 0, frame.width, frame.height), { formats: ['QRCode'], tryHarder: true, maxNumberOfSymbols: 1 });
    return results.find((r) => r.isValid && r.text !== '')?.text;
  };
}

function stopTracks(stream: MediaStream): void {
  for (const t of stream.getTracks()) t.stop();
}

/** Rejects with the signal's reason on abort; what `p` later resolves to goes to `lost` (a camera stream must still be stopped). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal, lost?: (v: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) lost?.(v);
        else resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

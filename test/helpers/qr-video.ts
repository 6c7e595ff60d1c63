/**
 * Renders text as a QR code into a Y4M (YUV4MPEG2) file for Chromium's fake camera
 * (`--use-fake-device-for-media-stream --use-file-for-fake-video-capture=FILE`), so the page's
 * real getUserMedia → canvas → decoder path sees a camera pointed at `latch pair`'s QR code.
 *
 * Y4M: a text header `YUV4MPEG2 W.. H.. F.. Ip A1:1 C420jpeg`, then per frame `FRAME\n` and the
 * planar 4:2:0 bytes (Y at full size, then U and V at half width and height). Chromium loops
 * the file, so a few identical frames are enough.
 */
import { writeFileSync } from 'node:fs';
import QRCode from 'qrcode';

export interface QrVideoOptions {
  width?: number;
  height?: number;
  frames?: number;
  fps?: number;
  /** Pixels a module; default: the largest that fits. */
  moduleSize?: number;
  /** 'full': white 255, black 0; 'video': BT.601 studio range, white 235, black 16 (what cameras send). */
  levels?: 'full' | 'video';
  /**
   * Flip 40% of the data modules (finder, timing and format modules stay): it still looks like
   * a QR code, and a decoder still finds one, but error correction (M: ~15%) cannot read it.
   */
  unreadable?: boolean;
}

/** The 4-module quiet zone ISO/IEC 18004 asks for on every side: decoders need it to find the code. */
const QUIET = 4;

/** The luma plane: a white page with black modules, the code centred. */
export function qrLumaPlane(text: string, width: number, height: number, opts: Pick<QrVideoOptions, 'moduleSize' | 'levels' | 'unreadable'> = {}): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width % 2 || height % 2) throw new TypeError('width and height must be even integers');
  const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const fits = Math.floor(Math.min(width, height) / (modules.size + 2 * QUIET));
  const scale = opts.moduleSize ?? fits;
  if (scale < 2 || scale > fits) throw new TypeError(`QR code of ${modules.size} modules does not fit ${width}x${height} at ${Math.max(scale, 2)} px a module`);
  const [white, black] = opts.levels === 'video' ? [235, 16] : [255, 0];
  const y = new Uint8Array(width * height).fill(white);
  const left = Math.floor((width - modules.size * scale) / 2);
  const top = Math.floor((height - modules.size * scale) / 2);
  for (let r = 0; r < modules.size; r++) {
    for (let c = 0; c < modules.size; c++) {
      const flip = opts.unreadable === true && !modules.isReserved(r, c) && (r * 31 + c * 17) % 5 < 2;
      if (!modules.get(r, c) !== flip) continue;
      for (let dy = 0; dy < scale; dy++) y.fill(black, (top + r * scale + dy) * width + left + c * scale, (top + r * scale + dy) * width + left + (c + 1) * scale);
    }
  }
  return y;
}

/** The whole Y4M file: grey chroma (U = V = 128), `frames` identical frames. */
export function qrY4m(text: string, opts: QrVideoOptions = {}): Buffer {
  const { width = 640, height = 480, frames = 3, fps = 15 } = opts;
  const luma = qrLumaPlane(text, width, height, opts);
  const chroma = Buffer.alloc((width / 2) * (height / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n', 'latin1'), luma, chroma]);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`, 'latin1');
  return Buffer.concat([header, ...Array.from({ length: frames }, () => frame)]);
}

/** Writes `qrY4m(text)` to `path` and returns the path. */
export function writeQrVideo(path: string, text: string, opts: QrVideoOptions = {}): string {
  writeFileSync(path, qrY4m(text, opts));
  return path;
}

/**
 * Read a passphrase: from an environment variable when set (unattended use), else from the
 * terminal without echo. Without either there is no safe way to ask, so it is an error.
 */
import { LatchError } from './latch-error.js';

export async function readPassphrase(opts: { envVar: string; prompt: string; confirm?: boolean }): Promise<string> {
  const fromEnv = process.env[opts.envVar];
  if (fromEnv !== undefined) {
    if (fromEnv.length === 0) throw new LatchError('passphrase_required', `${opts.envVar} is set but empty`);
    return fromEnv;
  }
  if (!process.stdin.isTTY) {
    throw new LatchError('passphrase_required', `no passphrase: set ${opts.envVar} or run this on a terminal`);
  }
  const first = await askHidden(opts.prompt);
  if (opts.confirm) {
    const second = await askHidden('Repeat it: ');
    if (first !== second) throw new LatchError('passphrase_mismatch', 'the two passphrases differ');
  }
  if (first.length === 0) throw new LatchError('passphrase_required', 'the passphrase is empty');
  return first;
}

function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let buf = '';
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          resolve(buf);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new LatchError('cancelled', 'cancelled'));
          return;
        }
        if (ch === '\u007f') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    const done = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

/**
 * Where Latch keeps state. LATCH_HOME, when set, holds everything (two homes on one machine are
 * two parties); otherwise the XDG base directories apply.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface LatchPaths {
  /** Root of this party's state. */
  readonly home: string;
  /** Computer-side state (pairing with an authenticator). */
  readonly computerFile: string;
  /** Authenticator state, encrypted. */
  readonly authenticatorDir: string;
  readonly keystoreFile: string;
  /** Default data dir of `latch server`. */
  readonly serverDataDir: string;
  /** Runtime dir for sockets. */
  readonly runtimeDir: string;
}

export function latchPaths(env: NodeJS.ProcessEnv = process.env): LatchPaths {
  const explicit = env.LATCH_HOME;
  const dataHome = explicit ?? join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'latch');
  const runtime = explicit ? join(explicit, 'run') : env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'latch') : join(dataHome, 'run');
  return {
    home: dataHome,
    computerFile: join(dataHome, 'computer.json'),
    authenticatorDir: join(dataHome, 'authenticator'),
    keystoreFile: join(dataHome, 'authenticator', 'keystore.json'),
    serverDataDir: join(dataHome, 'server'),
    runtimeDir: runtime,
  };
}

/**
 * Debian's Firefox ESR driven over WebDriver BiDi with a plain `ws` client (issue 14): playwright-core
 * cannot drive Debian's Firefox, and geckodriver is neither packaged nor downloadable here.
 * `firefox-esr --headless --remote-debugging-port=0 --profile DIR` prints
 * "WebDriver BiDi listening on ws://HOST:PORT" on stderr; `session.new` there starts a session.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';

export const FIREFOX = '/usr/bin/firefox-esr';

/** Why the Firefox tests cannot run here, or undefined. Under CI=true a missing Firefox is a failure, not a skip. */
export function firefoxMissing(): string | undefined {
  try {
    execFileSync(FIREFOX, ['--version'], { stdio: 'pipe' });
    return undefined;
  } catch {
    const why = `${FIREFOX} is not installed (apt-get install firefox-esr; .ci/run does)`;
    if (process.env.CI === 'true') throw new Error(`CI=true: ${why}`);
    return why;
  }
}

export interface BidiEvent {
  method: string;
  params: Record<string, unknown>;
}

export interface Firefox {
  readonly stderr: () => string;
  command<T = Record<string, unknown>>(method: string, params: Record<string, unknown>): Promise<T>;
  /** A new tab; returns its browsing context id. */
  newTab(): Promise<string>;
  navigate(context: string, url: string): Promise<void>;
  /** Evaluates `fn` (an async function's source) in the tab and returns its JSON-able result. */
  evaluate<T>(context: string, fn: string, ...args: (string | number | boolean)[]): Promise<T>;
  /** Every top-level browsing context id. */
  tabs(): Promise<{ context: string; url: string }[]>;
  closeTab(context: string): Promise<void>;
  onEvent(fn: (e: BidiEvent) => void): void;
  /** Ends the session and Firefox; resolves once it has exited. */
  quit(): Promise<void>;
}

/** The profile prefs issue 14 lists, for a Firefox that subscribes at the push service `pushServerWsUrl`. */
export function pushPrefs(pushServerWsUrl: string): Record<string, string | number | boolean> {
  return {
    'dom.push.serverURL': pushServerWsUrl,
    'dom.push.testing.allowInsecureServerURL': true,
    'dom.push.connection.enabled': true,
    'permissions.default.desktop-notification': 1,
    // Headless Firefox has no notification daemon: its own alert windows instead.
    'alerts.useSystemBackend': false,
    // A worker with no page open stops after a second without events, so a push really wakes one.
    'dom.serviceWorkers.idle_timeout': 1000,
    'dom.serviceWorkers.idle_extended_timeout': 5000,
  };
}

/** Writes `prefs` to DIR/user.js (Firefox reads it at every start). */
export function writeUserJs(profileDir: string, prefs: Record<string, string | number | boolean>): void {
  writeFileSync(join(profileDir, 'user.js'), Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(''));
}

// A failed test (or bench) must not leave Firefox behind; on exit, not node:test's `after`, since
// bench/push-bench.ts runs this outside the test runner.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function startFirefox(profileDir: string, env: NodeJS.ProcessEnv = {}, extraArgs: string[] = []): Promise<Firefox> {
  const child = spawn(FIREFOX, ['--headless', '--remote-debugging-port=0', '--profile', profileDir, '--no-remote', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1', ...env },
  });
  running.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => (running.delete(child), r())));
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Firefox did not start BiDi:\n${err}`)), 60_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      err += c;
      const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stdout!.resume();
    void exited.then(() => reject(new Error(`Firefox exited before BiDi was up:\n${err}`)));
  });
  const ws = new WebSocket(`${url}/session`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners: ((e: BidiEvent) => void)[] = [];
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { id?: number; type?: string; result?: unknown; error?: string; message?: string; method?: string; params?: Record<string, unknown> };
    if (m.id !== undefined && waiting.has(m.id)) {
      const w = waiting.get(m.id)!;
      waiting.delete(m.id);
      if (m.type === 'error') w.reject(new Error(`${m.error}: ${m.message}`));
      else w.resolve(m.result);
      return;
    }
    if (m.type === 'event' && m.method) for (const l of listeners) l({ method: m.method, params: m.params ?? {} });
  });
  ws.on('close', () => {
    for (const w of waiting.values()) w.reject(new Error('BiDi connection closed'));
    waiting.clear();
  });
  const command = <T>(method: string, params: Record<string, unknown>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await command('session.new', { capabilities: {} });

  const ff: Firefox = {
    stderr: () => err,
    command,
    async newTab() {
      const r = await command<{ context: string }>('browsingContext.create', { type: 'tab' });
      return r.context;
    },
    async navigate(context, target) {
      await command('browsingContext.navigate', { context, url: target, wait: 'complete' });
    },
    async evaluate<T>(context: string, fn: string, ...args: (string | number | boolean)[]) {
      const r = await command<{ type: string; result?: { type: string; value?: unknown }; exceptionDetails?: { text?: string } }>('script.callFunction', {
        functionDeclaration: `async (...a) => JSON.stringify(await (${fn})(...a))`,
        arguments: args.map((a) => (typeof a === 'string' ? { type: 'string', value: a } : typeof a === 'number' ? { type: 'number', value: a } : { type: 'boolean', value: a })),
        target: { context },
        awaitPromise: true,
        resultOwnership: 'none',
      });
      if (r.type === 'exception') throw new Error(`script failed: ${r.exceptionDetails?.text ?? 'exception'}`);
      const text = r.result?.value;
      return (typeof text === 'string' ? JSON.parse(text) : undefined) as T;
    },
    async tabs() {
      const r = await command<{ contexts: { context: string; url: string }[] }>('browsingContext.getTree', { maxDepth: 0 });
      return r.contexts.map((c) => ({ context: c.context, url: c.url }));
    },
    async closeTab(context) {
      await command('browsingContext.close', { context });
    },
    onEvent(fn) {
      listeners.push(fn);
    },
    async quit() {
      // session.end leaves Firefox running; a SIGTERM lets it shut down cleanly (the profile,
      // push registrations included, is flushed), which a restart of the same profile needs.
      await command('session.end', {}).catch(() => undefined);
      ws.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
  return ff;
}

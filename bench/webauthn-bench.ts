/**
 * WebAuthn benchmark (issue 11): the navigator.credentials.get round trip as a page sees it,
 * page -> extension -> `latch browser host` -> relay -> `latch device run --auto-approve` ->
 * back, against Chromium's own CDP virtual authenticator (in-browser, no I/O) in the same run.
 * Real processes on loopback, Debian Chromium headless; loops are bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const EXTENSION = fileURLToPath(new URL('../extension/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const GETS = 30;
const PASSPHRASE = 'bench passphrase (not secret)';

export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

export function run(args: string[], home: string): { child: ChildProcess; out: Promise<string>; wait(re: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LATCH_HOME: home, LATCH_PASSPHRASE: PASSPHRASE }, stdio: ['ignore', 'pipe', 'pipe'] });
  const buf = { stdout: '', stderr: '' };
  const listeners: (() => void)[] = [];
  for (const s of ['stdout', 'stderr'] as const) {
    child[s]!.setEncoding('utf8');
    child[s]!.on('data', (c: string) => {
      buf[s] += c;
      for (const l of listeners) l();
    });
  }
  const out = new Promise<string>((r) => child.once('exit', () => r(buf.stdout)));
  const wait = (re: RegExp, stream: 'stdout' | 'stderr' = 'stderr'): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`bench: timed out waiting for ${re}: ${buf.stderr}`)), 60_000);
      const check = (): void => {
        const m = re.exec(buf[stream]);
        if (m) (clearTimeout(t), resolve(m));
      };
      listeners.push(check);
      check();
    });
  return { child, out, wait };
}

export const tmp = (p: string): string => mkdtempSync(path.join(os.tmpdir(), `latch-bench-${p}-`));

type Page = import('playwright-core').Page;

/** GETS sequential gets in `page`; returns sorted milliseconds as the page measured them. */
async function timeGets(page: Page, options: unknown): Promise<number[]> {
  const times = await page.evaluate(
    async ([options, n]) => {
      const P = PublicKeyCredential as unknown as { parseRequestOptionsFromJSON(j: unknown): PublicKeyCredentialRequestOptions };
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await navigator.credentials.get({ publicKey: P.parseRequestOptionsFromJSON(options) });
        out.push(performance.now() - t0);
      }
      return out;
    },
    [options, GETS] as const,
  );
  return times.sort((a, b) => a - b);
}

export async function webauthnBench(): Promise<string[]> {
  if (!existsSync(CHROMIUM)) return [`skipped: ${CHROMIUM} is not installed`];
  const { chromium } = await import('playwright-core');
  const procs: ChildProcess[] = [];
  const servers: http.Server[] = [];
  const contexts: import('playwright-core').BrowserContext[] = [];
  try {
    const server = run(['server', '--listen', '127.0.0.1:0', '--data', tmp('server')], tmp('srv'));
    procs.push(server.child);
    const [, url] = await server.wait(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 'stdout');
    const phone = tmp('phone');
    await run(['device', 'init', '--name', 'phone'], phone).out;
    const computer = tmp('computer');
    const pair = run(['pair', '--server', url!, '--uri-only', '--timeout', '30'], computer);
    procs.push(pair.child);
    const [link] = await pair.wait(/^latch:\/\/pair\?\S+/m, 'stdout');
    await run(['device', 'pair', link], phone).out;
    await pair.out;
    const device = run(['device', 'run', '--auto-approve'], phone);
    procs.push(device.child);
    await device.wait(/ready: waiting for requests from 1 paired computer/);
    const udd = tmp('chromium');
    await run(['browser', 'install', '--user-data-dir', udd, '--yes'], computer).out;

    const rpServer = http.createServer((_q, r) => (r.setHeader('content-type', 'text/html'), r.end('<!doctype html><title>bench</title>')));
    servers.push(rpServer);
    await new Promise<void>((r) => rpServer.listen(0, '127.0.0.1', () => r()));
    const origin = `http://localhost:${(rpServer.address() as { port: number }).port}`;
    const challenge = Buffer.alloc(32, 7).toString('base64url');
    const createOptions = { rp: { name: 'Bench', id: 'localhost' }, user: { id: 'AQID', name: 'ada', displayName: 'Ada' }, challenge, pubKeyCredParams: [{ type: 'public-key', alg: -7 }], authenticatorSelection: { residentKey: 'required', userVerification: 'discouraged' } };
    const getOptions = { challenge, rpId: 'localhost', userVerification: 'discouraged' };
    const create = (page: Page): Promise<unknown> =>
      page.evaluate(async (o) => {
        const P = PublicKeyCredential as unknown as { parseCreationOptionsFromJSON(j: unknown): PublicKeyCredentialCreationOptions };
        await navigator.credentials.create({ publicKey: P.parseCreationOptionsFromJSON(o) });
      }, createOptions);

    const args = ['--no-sandbox', '--disable-gpu', `--disable-extensions-except=${EXTENSION}`, `--load-extension=${EXTENSION}`];
    const latchCtx = await chromium.launchPersistentContext(udd, { executablePath: CHROMIUM, headless: true, args });
    contexts.push(latchCtx);
    const latchPage = await latchCtx.newPage();
    await latchPage.goto(`${origin}/`);
    await create(latchPage);
    await timeGets(latchPage, getOptions); // warm-up: host start, relay connections
    const latch = await timeGets(latchPage, getOptions);

    const plainCtx = await chromium.launchPersistentContext(tmp('plain'), { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    contexts.push(plainCtx);
    const plainPage = await plainCtx.newPage();
    await plainPage.goto(`${origin}/`);
    const cdp = await plainCtx.newCDPSession(plainPage);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true } });
    await create(plainPage);
    await timeGets(plainPage, getOptions);
    const virtual = await timeGets(plainPage, getOptions);

    const f = (x: number): string => `${x.toFixed(1)} ms`;
    return [
      `navigator.credentials.get, ${GETS} sequential, page-measured:`,
      `  Latch (extension -> host -> relay -> latch device run --auto-approve): p50 ${f(pct(latch, 50))}, p99 ${f(pct(latch, 99))}`,
      `  CDP virtual authenticator (baseline, in-browser):                    p50 ${f(pct(virtual, 50))}, p99 ${f(pct(virtual, 99))}`,
      `  ratio p50 ${(pct(latch, 50) / pct(virtual, 50)).toFixed(1)}x, p99 ${(pct(latch, 99) / pct(virtual, 99)).toFixed(1)}x`,
    ];
  } finally {
    for (const c of contexts) await c.close().catch(() => undefined);
    for (const s of servers) s.close();
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  }
}

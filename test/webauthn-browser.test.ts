/**
 * Passkeys in Debian Chromium (issue 11): the built extension (dist/extension) loaded with
 * --load-extension into a temporary user-data-dir that holds the host manifest written by
 * `latch browser install --user-data-dir`; real `latch server`, `latch device run` and
 * `latch browser host` processes; an independent relying party (@simplewebauthn/server) on
 * http://localhost that verifies each answer. Pages call navigator.credentials themselves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { latch, latchRun, newAuthenticator, pairComputer, startLatchServer, tempDir, PASSPHRASE, type LatchProcess, type LatchServer } from './helpers/latch-process.js';
import { CHROMIUM, CHROMIUM_SKIP, REPO_ROOT, virtualAuthenticator } from './helpers/web-browser.js';
import { relyingParty, type RelyingParty } from './helpers/webauthn-rp.js';

const EXTENSION = join(REPO_ROOT, 'dist', 'extension');
const PAGE = '<!doctype html><meta charset="utf-8"><title>relying party</title><p>relying party</p>';

let server: LatchServer;
let phone: string;
let computer: string;
let device: LatchProcess;
let rpServer: http.Server;
let frameServer: http.Server;
let origin: string;
let frameOrigin: string;
let context: BrowserContext;
let rp: RelyingParty;

function listen(handler: http.RequestListener): Promise<[http.Server, number]> {
  const s = http.createServer(handler);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve([s, (s.address() as { port: number }).port])));
}

async function browserWithHost(latchHome: string): Promise<BrowserContext> {
  const udd = tempDir('chromium');
  const r = await latchRun(['browser', 'install', '--user-data-dir', udd, '--yes'], { home: latchHome });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^extension id: [a-p]{32}$/m);
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(udd, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', `--disable-extensions-except=${EXTENSION}`, `--load-extension=${EXTENSION}`],
  });
}

let interactive = false;

/** auto: --auto-approve; 'pipe': a person who answers through `answer`; false: nobody (stdin /dev/null). */
function startDevice(auto: boolean | 'pipe'): Promise<RegExpMatchArray> {
  interactive = auto === 'pipe';
  device = latch(['device', 'run', ...(auto === true ? ['--auto-approve'] : [])], { home: phone, ...(auto === 'pipe' ? { stdin: 'pipe' as const } : {}) });
  return device.waitFor(/ready: waiting for requests from 1 paired computer/);
}

/** A `latch device run` whose prompts the test answers. */
async function personAtDevice(): Promise<void> {
  if (interactive) return;
  await stopDevice();
  await startDevice('pipe');
}

/** Waits for `re` in what the device printed after `offset` characters of its stderr. */
function deviceSays(re: RegExp, offset: number): Promise<RegExpMatchArray> {
  const check = (): RegExpMatchArray | null => re.exec(device.stderr().slice(offset));
  return new Promise((resolve, reject) => {
    const m = check();
    if (m) return resolve(m);
    const timer = setTimeout(() => (device.child.stderr!.off('data', on), reject(new Error(`device did not print ${re}:\n${device.stderr().slice(offset)}`))), 30_000);
    const on = (): void => {
      const m2 = check();
      if (!m2) return;
      clearTimeout(timer);
      device.child.stderr!.off('data', on);
      resolve(m2);
    };
    device.child.stderr!.on('data', on);
  });
}

/** Answers the device's next prompt (a line printed after `offset` matching `re`) with `line`; returns the new offset. */
async function answer(re: RegExp, line: string, offset: number): Promise<number> {
  await deviceSays(re, offset);
  const at = device.stderr().length;
  device.child.stdin!.write(`${line}\n`);
  return at;
}

const LATCH_AAGUID_HEX = 'f6b0b65c12764748992966021a38926a';
const aaguidOf = (o: Outcome): string => Buffer.from(o.json!.response.authenticatorData!, 'base64url').subarray(37, 53).toString('hex');
const uvFlag = (authenticatorData: string): boolean => (Buffer.from(authenticatorData, 'base64url')[32]! & 0x04) !== 0;

async function stopDevice(): Promise<void> {
  device.kill();
  await device.exited;
}

type Outcome = { json?: Record<string, unknown> & { id: string; response: Record<string, string> }; instance?: boolean; spkiMatches?: boolean; ext?: unknown; error?: string; message?: string };

/** navigator.credentials.create/get in `page` (or a frame) with the RP's JSON options. */
async function ceremony(target: Page | import('playwright-core').Frame, op: 'create' | 'get', options: unknown): Promise<Outcome> {
  return target.evaluate(
    async ([op, options]) => {
      try {
        const P = PublicKeyCredential as unknown as { parseCreationOptionsFromJSON(j: unknown): PublicKeyCredentialCreationOptions; parseRequestOptionsFromJSON(j: unknown): PublicKeyCredentialRequestOptions };
        const c = (op === 'create'
          ? await navigator.credentials.create({ publicKey: P.parseCreationOptionsFromJSON(options) })
          : await navigator.credentials.get({ publicKey: P.parseRequestOptionsFromJSON(options) })) as PublicKeyCredential & { toJSON(): Record<string, unknown> };
        const json = c.toJSON() as Outcome['json'] & object;
        let spkiMatches: boolean | undefined;
        if (op === 'create') {
          const spki = new Uint8Array((c.response as AuthenticatorAttestationResponse).getPublicKey()!);
          const b64 = btoa(String.fromCharCode(...spki)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
          spkiMatches = b64 === (json.response as Record<string, string>).publicKey;
        }
        return { json, instance: c instanceof PublicKeyCredential, spkiMatches, ext: c.getClientExtensionResults() };
      } catch (e) {
        return { error: (e as Error).name, message: (e as Error).message };
      }
    },
    [op, options] as const,
  );
}

async function newPage(ctx = context, url = `${origin}/`): Promise<Page> {
  const p = await ctx.newPage();
  await p.goto(url);
  return p;
}

before(async () => {
  if (CHROMIUM_SKIP) return;
  server = await startLatchServer();
  phone = await newAuthenticator('phone');
  computer = await pairComputer(server, phone);
  await startDevice(true);
  let port: number;
  [rpServer, port] = await listen((req, res) => {
    res.setHeader('content-type', 'text/html');
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/frame') {
      const allow = u.searchParams.get('allow') === '1' ? ' allow="publickey-credentials-get"' : '';
      res.end(`<!doctype html><title>top</title><iframe id="f" src="${frameOrigin}/"${allow}></iframe>`);
    } else res.end(PAGE);
  });
  let framePort: number;
  [frameServer, framePort] = await listen((_req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(PAGE);
  });
  origin = `http://localhost:${port}`;
  frameOrigin = `http://localhost:${framePort}`;
  rp = relyingParty('localhost', origin);
  context = await browserWithHost(computer);
});

after(async () => {
  await context?.close();
  rpServer?.close();
  frameServer?.close();
  device?.kill();
  await server?.stop();
});

const skip = CHROMIUM_SKIP;

test('ES256 discoverable registration, then login with and without allowCredentials, verified by the RP', { skip }, async () => {
  const page = await newPage();
  const reg = await ceremony(page, 'create', { ...(await rp.registrationOptions()), extensions: { credProps: true } });
  assert.equal(reg.error, undefined, reg.message);
  assert.equal(reg.instance, true);
  assert.equal(reg.spkiMatches, true);
  assert.deepEqual(reg.ext, { credProps: { rk: true } });
  const cred = await rp.verifyRegistration(reg.json);
  assert.equal(reg.json!.response.publicKeyAlgorithm, -7 as unknown as string);
  const withAllow = await ceremony(page, 'get', await rp.authenticationOptions({ allow: true }));
  assert.equal(withAllow.error, undefined, withAllow.message);
  assert.equal((await rp.verifyAuthentication(withAllow.json)).newCounter, 1);
  const discoverable = await ceremony(page, 'get', await rp.authenticationOptions({ allow: false }));
  assert.equal(discoverable.json!.id, cred.id);
  assert.equal((await rp.verifyAuthentication(discoverable.json)).newCounter, 2);
  // The origin in clientDataJSON is the one the browser reported.
  const cd = JSON.parse(Buffer.from(discoverable.json!.response.clientDataJSON!, 'base64url').toString());
  assert.equal(cd.origin, origin);
  assert.equal(cd.crossOrigin, false);
  await page.close();
});

test('an EdDSA-only site gets an Ed25519 credential', { skip }, async () => {
  const page = await newPage();
  const eddsa = relyingParty('localhost', origin);
  const reg = await ceremony(page, 'create', await eddsa.registrationOptions({ algorithms: [-8], userName: 'grace' }));
  assert.equal(reg.error, undefined, reg.message);
  assert.equal(reg.json!.response.publicKeyAlgorithm, -8 as unknown as string);
  await eddsa.verifyRegistration(reg.json);
  await eddsa.verifyAuthentication((await ceremony(page, 'get', await eddsa.authenticationOptions({ allow: true }))).json);
  await page.close();
});

test('a repeated registration is InvalidStateError; a foreign rp.id is SecurityError; junk options get the spec\'s exception', { skip }, async () => {
  const page = await newPage();
  const again = await ceremony(page, 'create', await rp.registrationOptions({ exclude: true }));
  assert.equal(again.error, 'InvalidStateError', again.message);
  for (const id of ['example.com', 'github.io', 'com']) {
    const foreign = await ceremony(page, 'create', { ...(await rp.registrationOptions()), rp: { name: 'x', id } });
    assert.equal(foreign.error, 'SecurityError', `${id}: ${foreign.message}`);
  }
  const junk = await page.evaluate(async () => {
    const base = { rp: { name: 'x' }, user: { id: new Uint8Array(16), name: 'a', displayName: 'a' }, challenge: new Uint8Array(32), pubKeyCredParams: [{ type: 'public-key' as const, alg: -7 }] };
    const name = async (o: PublicKeyCredentialCreationOptions): Promise<string> => {
      try {
        await navigator.credentials.create({ publicKey: o });
        return 'ok';
      } catch (e) {
        return (e as Error).name;
      }
    };
    return {
      bigChallenge: await name({ ...base, challenge: new Uint8Array(1024 * 1024) }),
      longUserId: await name({ ...base, user: { ...base.user, id: new Uint8Array(65) } }),
      noAlgorithm: await name({ ...base, pubKeyCredParams: [{ type: 'public-key', alg: -257 }] }),
    };
  });
  assert.deepEqual(junk, { bigChallenge: 'TypeError', longUserId: 'TypeError', noAlgorithm: 'NotSupportedError' });
  await page.close();
});

test('a cross-origin iframe with allow="publickey-credentials-get" signs in with crossOrigin true; without allow it is refused', { skip }, async () => {
  const framed = relyingParty('localhost', frameOrigin, origin);
  framed.credentials.push(...rp.credentials);
  const page = await newPage(context, `${origin}/frame?allow=1`);
  const frame = await (await page.waitForSelector('#f')).contentFrame();
  await frame!.waitForLoadState();
  const ok = await ceremony(frame!, 'get', await framed.authenticationOptions({ allow: true }));
  assert.equal(ok.error, undefined, ok.message);
  const cd = JSON.parse(Buffer.from(ok.json!.response.clientDataJSON!, 'base64url').toString());
  assert.equal(cd.crossOrigin, true);
  assert.equal(cd.origin, frameOrigin);
  assert.equal(cd.topOrigin, origin);
  await framed.verifyAuthentication(ok.json);
  await page.goto(`${origin}/frame?allow=0`);
  const denied = await (await page.waitForSelector('#f')).contentFrame();
  await denied!.waitForLoadState();
  const no = await ceremony(denied!, 'get', await framed.authenticationOptions({ allow: true }));
  assert.equal(no.error, 'NotAllowedError', no.message);
  await page.close();
});

test('a deny on the authenticator is NotAllowedError, and the page stays usable', { skip }, async () => {
  await stopDevice();
  await startDevice(false); // stdin is /dev/null: nobody can answer, so it denies
  try {
    const page = await newPage();
    const denied = await ceremony(page, 'get', await rp.authenticationOptions({ allow: true }));
    assert.equal(denied.error, 'NotAllowedError', denied.message);
    await device.waitFor(new RegExp(`Sign in to localhost as ada, from Chromium on `));
    assert.equal(await page.evaluate(() => document.querySelector('p')?.textContent), 'relying party');
    await page.close();
  } finally {
    await stopDevice();
    await startDevice(true);
  }
});

test('an AbortSignal ends a waiting request with AbortError at once, and the next request works', { skip }, async () => {
  await stopDevice(); // nobody answers: the request would wait for the authenticator
  const page = await newPage();
  try {
    const options = await rp.authenticationOptions({ allow: true });
    const name = await page.evaluate(async (json) => {
      const P = PublicKeyCredential as unknown as { parseRequestOptionsFromJSON(j: unknown): PublicKeyCredentialRequestOptions };
      const abort = new AbortController();
      const pending = navigator.credentials.get({ publicKey: P.parseRequestOptionsFromJSON(json), signal: abort.signal });
      abort.abort();
      try {
        await pending;
        return 'resolved';
      } catch (e) {
        return (e as Error).name;
      }
    }, options);
    assert.equal(name, 'AbortError');
  } finally {
    await startDevice(true);
  }
  const ok = await ceremony(page, 'get', await rp.authenticationOptions({ allow: true }));
  assert.equal(ok.error, undefined, ok.message);
  await rp.verifyAuthentication(ok.json);
  await page.close();
});

test('an unpaired computer falls back to the browser\'s own authenticator (a CDP virtual authenticator)', { skip }, async () => {
  const unpaired = await browserWithHost(tempDir('unpaired'));
  try {
    const page = await newPage(unpaired);
    await virtualAuthenticator(page);
    const other = relyingParty('localhost', origin);
    const reg = await ceremony(page, 'create', await other.registrationOptions({ userName: 'fallback' }));
    assert.equal(reg.error, undefined, reg.message);
    await other.verifyRegistration(reg.json);
    // Not Latch's AAGUID: the virtual authenticator answered.
    const authData = Buffer.from(reg.json!.response.authenticatorData!, 'base64url');
    assert.notEqual(authData.subarray(37, 53).toString('hex'), LATCH_AAGUID_HEX);
  } finally {
    await unpaired.close();
  }
});

test('several accounts: the authenticator lists them and signs in as the one picked; the passphrase is user verification (UV), which the RP requires', { skip }, async () => {
  const page = await newPage();
  // A second account of this site (another user handle), made while the device auto-approves.
  const second = await ceremony(page, 'create', await rp.registrationOptions({ userName: 'lin' }));
  assert.equal(second.error, undefined, second.message);
  await rp.verifyRegistration(second.json);
  const ada = rp.credentials[0]!.id;
  await personAtDevice();
  let at = device.stderr().length;
  const pending = ceremony(page, 'get', await rp.authenticationOptions({ allow: false }));
  const prompt = await deviceSays(/which account\?[\s\S]*answer: [^\n]*\n> /, at);
  const pick = /^ {2}([0-9]+) = ada/m.exec(prompt[0]);
  assert.ok(pick && /^ {2}[0-9]+ = lin/m.test(prompt[0]), prompt[0]);
  at = await answer(/> $/, pick[1]!, at);
  at = await answer(/passphrase/, 'a wrong guess', at);
  await answer(/not the passphrase\n[\s\S]*passphrase/, PASSPHRASE, at);
  const got = await pending;
  assert.equal(got.error, undefined, got.message);
  assert.equal(got.json!.id, ada);
  assert.equal(uvFlag(got.json!.response.authenticatorData!), true);
  await rp.verifyAuthentication(got.json, { requireUserVerification: true });
  // A site that requires UV: registration is verified with requireUserVerification.
  const strict = relyingParty('localhost', origin);
  at = device.stderr().length;
  const reg = ceremony(page, 'create', await strict.registrationOptions({ userName: 'uv', userVerification: 'required' }));
  at = await answer(/Create a passkey for localhost[\s\S]*> $/, 'y', at);
  await answer(/passphrase \(the site requires it\)/, PASSPHRASE, at);
  const made = await reg;
  assert.equal(made.error, undefined, made.message);
  await strict.verifyRegistration(made.json, { requireUserVerification: true });
  await page.close();
});

test('"use another key" on the authenticator: the page gets the browser\'s own authenticator with the original options', { skip }, async () => {
  await personAtDevice();
  const page = await newPage();
  await virtualAuthenticator(page);
  const other = relyingParty('localhost', origin);
  const at = device.stderr().length;
  const pending = ceremony(page, 'create', await other.registrationOptions({ userName: 'elsewhere' }));
  await answer(/Create a passkey for localhost[\s\S]*k = use another key[\s\S]*> $/, 'k', at);
  const reg = await pending;
  assert.equal(reg.error, undefined, reg.message);
  assert.notEqual(aaguidOf(reg), LATCH_AAGUID_HEX);
  assert.equal((reg.json as unknown as { response: { publicKeyAlgorithm: number } }).response.publicKeyAlgorithm, -7);
  await other.verifyRegistration(reg.json);
  await page.close();
});

test('latch browser exclude: an excluded site gets the browser\'s own authenticator at once, the authenticator is never asked', { skip }, async () => {
  const cli = (...args: string[]): ReturnType<typeof latchRun> => latchRun(['browser', 'exclude', ...args], { home: computer });
  const missing = await cli('add');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /SITE is required[\s\S]*\[usage\]/);
  assert.match((await cli('add', 'not a site')).stderr, /\[bad_site\]/);
  assert.match((await cli('add', '192.168.1.1')).stderr, /\[bad_site\]/);
  const notListed = await cli('remove', 'example.org');
  assert.equal(notListed.code, 1);
  assert.match(notListed.stderr, /\[site_not_excluded\]/);
  assert.equal((await cli('add', 'http://LOCALHOST:1234/x')).code, 0);
  assert.deepEqual(JSON.parse((await cli('list', '--json')).stdout), { sites: ['localhost'] });
  await personAtDevice();
  const page = await newPage();
  await virtualAuthenticator(page);
  const other = relyingParty('localhost', origin);
  const at = device.stderr().length;
  const reg = await ceremony(page, 'create', await other.registrationOptions({ userName: 'excluded' }));
  assert.equal(reg.error, undefined, reg.message);
  assert.notEqual(aaguidOf(reg), LATCH_AAGUID_HEX);
  await other.verifyRegistration(reg.json);
  assert.doesNotMatch(device.stderr().slice(at), /APPROVAL REQUEST/);
  assert.equal((await cli('remove', 'localhost')).code, 0);
  assert.equal((await cli('list')).stdout, '');
  await page.close();
});

test('the page\'s timeout ends a request nobody answers with NotAllowedError; the authenticator withdraws its prompt; the page stays usable', { skip }, async () => {
  await personAtDevice();
  const page = await newPage();
  // Only ada's credential is allowed, so there is no account to choose.
  const adaOnly = async (): Promise<Record<string, unknown>> => {
    const o = await rp.authenticationOptions({ allow: true });
    return { ...o, allowCredentials: (o.allowCredentials as { id: string }[]).filter((c) => c.id === rp.credentials[0]!.id) };
  };
  let at = device.stderr().length;
  const timedOut = await ceremony(page, 'get', { ...(await adaOnly()), timeout: 15_000 }); // the shortest Latch honours
  assert.equal(timedOut.error, 'NotAllowedError', timedOut.message);
  await deviceSays(/Sign in to localhost as ada[\s\S]*the computer stopped waiting: the page timed out\) withdrawn/, at);
  at = device.stderr().length;
  const again = ceremony(page, 'get', await adaOnly());
  at = await answer(/Sign in to localhost as ada[\s\S]*> $/, 'y', at);
  await answer(/passphrase/, '', at);
  const ok = await again;
  assert.equal(ok.error, undefined, ok.message);
  assert.equal(uvFlag(ok.json!.response.authenticatorData!), false);
  await rp.verifyAuthentication(ok.json);
  await page.close();
});

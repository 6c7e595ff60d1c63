/**
 * The page script (issue 11), in the page's MAIN world at document_start in every frame: wraps
 * navigator.credentials.create/get. A `publicKey` request goes to Latch; the answer becomes a
 * real PublicKeyCredential-shaped object (instanceof PublicKeyCredential, with toJSON(),
 * getClientExtensionResults() and response.getPublicKey() and friends). The browser's saved
 * original function answers instead when:
 *   - there is no `publicKey` option, or it is a `mediation: 'conditional'` (autofill) request;
 *   - the host is missing or this computer is unpaired, the site is on the user's exclusion list
 *     (`excluded_site`), the authenticator has no credential for the site (`no_credential`), or
 *     the person chose "use another key" there (`use_another_key`) - the answer says `fallback`.
 * Every path ends in a credential or in the exception the spec names: bad options are checked
 * here first (webauthn-options.ts), the permissions policy of a frame is honoured, an abort
 * rejects at once, and a deadline past the authenticator's own ends a request nobody answers.
 */
import { decodeBase64url, encodeBase64url } from '../src/protocol/base64url.js';
import { clampTimeoutMs, parseCreateOptions, parseGetOptions } from '../src/protocol/webauthn/webauthn-options.js';
import { domExceptionNameFor } from '../src/protocol/webauthn/webauthn-errors.js';
import { CHANNEL, type PageAnswer, type PageRequest } from './protocol.js';

type Op = 'create' | 'get';
type Original = (options?: CredentialCreationOptions | CredentialRequestOptions) => Promise<Credential | null>;

const container = (globalThis as { CredentialsContainer?: { prototype: CredentialsContainer } }).CredentialsContainer;
if (container && typeof PublicKeyCredential !== 'undefined') install(container.prototype);

function exception(name: string, message: string): Error {
  return name === 'TypeError' ? new TypeError(message) : new DOMException(message, name);
}

/** BufferSources become base64url, as the spec's JSON forms have them (§5.1 "toJSON"). */
function toJSONValue(x: unknown, depth = 0): unknown {
  if (depth > 8) throw new TypeError('options are nested too deeply');
  if (x instanceof ArrayBuffer) return encodeBase64url(new Uint8Array(x));
  if (ArrayBuffer.isView(x)) return encodeBase64url(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  if (Array.isArray(x)) return x.map((v) => toJSONValue(v, depth + 1));
  if (typeof x === 'object' && x !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (typeof v !== 'function' && v !== undefined) out[k] = toJSONValue(v, depth + 1);
    return out;
  }
  return x;
}

function buffer(b64: string): ArrayBuffer {
  const b = decodeBase64url(b64);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function define(target: object, values: Record<string, unknown>): void {
  for (const [k, value] of Object.entries(values)) Object.defineProperty(target, k, { value, enumerable: true });
}

interface CredentialJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  authenticatorAttachment: string;
  response: Record<string, unknown>;
  clientExtensionResults: Record<string, unknown>;
}

function toCredential(op: Op, json: CredentialJSON): PublicKeyCredential {
  const r = json.response as Record<string, string | string[] | number>;
  let response: AuthenticatorResponse;
  if (op === 'create') {
    response = Object.create(AuthenticatorAttestationResponse.prototype) as AuthenticatorAttestationResponse;
    const transports = [...(r.transports as string[])];
    define(response, {
      clientDataJSON: buffer(r.clientDataJSON as string),
      attestationObject: buffer(r.attestationObject as string),
      getTransports: () => [...transports],
      getAuthenticatorData: () => buffer(r.authenticatorData as string),
      getPublicKey: () => buffer(r.publicKey as string),
      getPublicKeyAlgorithm: () => r.publicKeyAlgorithm as number,
    });
  } else {
    response = Object.create(AuthenticatorAssertionResponse.prototype) as AuthenticatorAssertionResponse;
    define(response, {
      clientDataJSON: buffer(r.clientDataJSON as string),
      authenticatorData: buffer(r.authenticatorData as string),
      signature: buffer(r.signature as string),
      userHandle: r.userHandle ? buffer(r.userHandle as string) : null,
    });
  }
  const credential = Object.create(PublicKeyCredential.prototype) as PublicKeyCredential;
  define(credential, {
    id: json.id,
    rawId: buffer(json.rawId),
    type: 'public-key',
    authenticatorAttachment: json.authenticatorAttachment,
    response,
    getClientExtensionResults: () => structuredClone(json.clientExtensionResults),
    toJSON: () => structuredClone(json),
  });
  return credential;
}

function install(proto: CredentialsContainer): void {
  const originalCreate = proto.create as Original;
  const originalGet = proto.get as Original;
  const waiting = new Map<string, (a: PageAnswer) => void>();
  const target = window.location.origin === 'null' ? '*' : window.location.origin;
  window.addEventListener('message', (event: MessageEvent) => {
    if (event.source !== window) return;
    const a = event.data as PageAnswer;
    if (typeof a !== 'object' || a === null || a.channel !== CHANNEL || a.dir !== 'from-latch') return;
    waiting.get(a.id)?.(a);
  });

  const viaLatch = (op: Op, options: CredentialCreationOptions | CredentialRequestOptions, original: () => Promise<Credential | null>): Promise<Credential | null> =>
    new Promise((resolve, reject) => {
      const signal = options.signal;
      if (signal?.aborted) return reject(signal.reason ?? new DOMException('the request was aborted', 'AbortError'));
      // A frame may use WebAuthn only where its embedder allowed it (§5.9 permissions policy).
      const policy = (document as { featurePolicy?: { allowsFeature(f: string): boolean } }).featurePolicy;
      const feature = op === 'create' ? 'publickey-credentials-create' : 'publickey-credentials-get';
      if (window.top !== window && policy && !policy.allowsFeature(feature)) {
        return reject(new DOMException(`this frame is not allowed to use ${feature}`, 'NotAllowedError'));
      }
      let json: unknown;
      let timeoutMs: number;
      try {
        json = toJSONValue((options as { publicKey: unknown }).publicKey);
        timeoutMs = clampTimeoutMs((op === 'create' ? parseCreateOptions(json) : parseGetOptions(json)).timeoutMs);
      } catch (e) {
        const code = (e as { code?: string }).code;
        return reject(code ? exception(domExceptionNameFor(code), (e as Error).message) : e);
      }
      const id = crypto.randomUUID();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (then: () => void): void => {
        if (!waiting.delete(id)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        then();
      };
      const post = (m: Omit<PageRequest, 'channel' | 'dir' | 'id'>): void => window.postMessage({ channel: CHANNEL, dir: 'to-latch', id, ...m } satisfies PageRequest, target);
      const onAbort = (): void =>
        finish(() => {
          post({ op: 'abort' });
          reject(signal?.reason ?? new DOMException('the request was aborted', 'AbortError'));
        });
      signal?.addEventListener('abort', onAbort, { once: true });
      // The host ends each request at the page's timeout (webauthn-client.ts requestWithin); this
      // is the backstop for a host that never answers, so the promise is never left pending.
      timer = setTimeout(() => finish(() => reject(new DOMException('the authenticator did not answer in time', 'NotAllowedError'))), timeoutMs + 15_000);
      waiting.set(id, (a) => {
        if (a.type === 'ack') return;
        if (a.type === 'result') finish(() => resolve(toCredential(op, a.credential as CredentialJSON)));
        else if (a.fallback) finish(() => resolve(original()));
        else finish(() => reject(exception(a.name ?? 'NotAllowedError', a.message ?? 'the request failed')));
      });
      post({ op, options: json });
    });

  const wrap = (op: Op, original: Original): Original =>
    function (this: CredentialsContainer, options) {
      const call = (): Promise<Credential | null> => original.call(this, options);
      const o = options as (CredentialRequestOptions & { publicKey?: unknown }) | undefined;
      if (!o || typeof o !== 'object' || o.publicKey === undefined || o.publicKey === null) return call();
      if (op === 'get' && o.mediation === 'conditional') return call();
      return viaLatch(op, o, call);
    };
  Object.defineProperty(proto, 'create', { value: wrap('create', originalCreate), writable: true, configurable: true });
  Object.defineProperty(proto, 'get', { value: wrap('get', originalGet), writable: true, configurable: true });
}

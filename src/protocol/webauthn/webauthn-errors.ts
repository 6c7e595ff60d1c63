/**
 * How Latch's error codes reach a web page: each WebAuthn failure becomes the exception the
 * spec names for it (WebAuthn L3 §5.1.3, §5.1.4, §6.3.2, §6.3.3), and a few codes mean "let the
 * browser's own authenticator try" instead (docs/BROWSER.md "Falling back"). One table, used by
 * the host and the extension. Pure; browser-safe.
 */
export type DomExceptionName = 'NotAllowedError' | 'InvalidStateError' | 'SecurityError' | 'NotSupportedError' | 'AbortError' | 'TypeError';

/** Codes after which the page script calls the browser's saved original function. */
export const FALLBACK_CODES: ReadonlySet<string> = new Set(['no_credential', 'unpaired', 'not_paired', 'host_missing', 'excluded_site', 'use_another_key']);

const NAMES: Readonly<Record<string, DomExceptionName>> = {
  webauthn_type_error: 'TypeError',
  webauthn_not_supported: 'NotSupportedError',
  credential_excluded: 'InvalidStateError',
  rp_id_mismatch: 'SecurityError',
  bad_origin: 'SecurityError',
  cancelled: 'AbortError',
};

/** The exception for a code; anything not listed (denied, timeout, a broken request) is NotAllowedError, as §5.1.3 step 22 says for every other failure. */
export function domExceptionNameFor(code: string): DomExceptionName {
  return NAMES[code] ?? 'NotAllowedError';
}

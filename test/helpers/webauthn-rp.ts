/**
 * An independent relying party for the WebAuthn tests: @simplewebauthn/server (v14) makes the
 * options and verifies what Latch answers. Nothing here knows Latch's code.
 */
import { generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse, type WebAuthnCredential } from '@simplewebauthn/server';

export interface RelyingParty {
  rpID: string;
  origin: string;
  credentials: WebAuthnCredential[];
  registrationOptions(opts?: { algorithms?: number[]; exclude?: boolean; userName?: string; userVerification?: 'required' | 'preferred' | 'discouraged' }): Promise<Record<string, unknown>>;
  /** `requireUserVerification`: refuse an answer without the UV flag (the library's own default is true). */
  verifyRegistration(response: unknown, opts?: { requireUserVerification?: boolean }): Promise<WebAuthnCredential>;
  authenticationOptions(opts?: { allow?: boolean }): Promise<Record<string, unknown>>;
  verifyAuthentication(response: unknown, opts?: { requireUserVerification?: boolean }): Promise<{ newCounter: number; userHandle?: string }>;
}

/** `topOrigin`: the site that embeds `origin` in a frame (a cross-origin login is accepted only from it). */
export function relyingParty(rpID: string, origin: string, topOrigin?: string): RelyingParty {
  let challenge = '';
  const credentials: WebAuthnCredential[] = [];
  return {
    rpID,
    origin,
    credentials,
    async registrationOptions(opts = {}) {
      const o = await generateRegistrationOptions({
        rpName: 'Example',
        rpID,
        userName: opts.userName ?? 'ada',
        userDisplayName: 'Ada Lovelace',
        attestationType: 'none',
        supportedAlgorithmIDs: opts.algorithms ?? [-7, -257],
        authenticatorSelection: { residentKey: 'required', userVerification: opts.userVerification ?? 'preferred' },
        excludeCredentials: opts.exclude ? credentials.map((c) => ({ id: c.id })) : [],
      });
      challenge = o.challenge;
      return o as unknown as Record<string, unknown>;
    },
    async verifyRegistration(response, opts = {}) {
      // requireUserVerification: false unless asked - Latch reports UV only after a real verification (docs/BROWSER.md).
      const v = await verifyRegistrationResponse({ response: response as never, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: opts.requireUserVerification ?? false });
      if (!v.verified) throw new Error('registration did not verify');
      credentials.push(v.registrationInfo.credential);
      return v.registrationInfo.credential;
    },
    async authenticationOptions(opts = {}) {
      const o = await generateAuthenticationOptions({ rpID, userVerification: 'preferred', allowCredentials: opts.allow ? credentials.map((c) => ({ id: c.id })) : [] });
      challenge = o.challenge;
      return o as unknown as Record<string, unknown>;
    },
    async verifyAuthentication(response, opts = {}) {
      const r = response as { id: string; response: { userHandle?: string } };
      const credential = credentials.find((c) => c.id === r.id);
      if (!credential) throw new Error(`unknown credential ${r.id}`);
      const v = await verifyAuthenticationResponse({ response: response as never, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, credential, requireUserVerification: opts.requireUserVerification ?? false, ...(topOrigin ? { expectedTopOrigin: topOrigin } : {}) });
      if (!v.verified) throw new Error('authentication did not verify');
      credential.counter = v.authenticationInfo.newCounter;
      return { newCounter: v.authenticationInfo.newCounter, userHandle: r.response.userHandle };
    },
  };
}

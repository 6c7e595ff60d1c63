/**
 * Timed approvals on the authenticator (issue 3, "Policy on the authenticator"): which
 * stored policy covers a request, and granting one. Policies belong to one pairing: an
 * approval given to one computer never covers another. Pure functions over the policy list of
 * any store (the keystore, or the web authenticator's IndexedDB); browser-safe.
 */
import type { AuthenticatorState, PolicyScope, StoredPolicy } from './authenticator-state.js';
import type { SignReview } from './sign-review.js';

/** Whatever holds the policy list: the keystore's state, or a plain record. */
export type PolicyHolder = Pick<AuthenticatorState, 'policies'>;

/** The live policy covering `review`, if any. */
export function coveringPolicy(state: PolicyHolder, review: SignReview, now: number): StoredPolicy | undefined {
  return (state.policies ?? []).find((p) => {
    if (p.pairingId !== review.pairingId || p.expiresAt <= now) return false;
    if (!review.timedScopes.includes(p.scope.kind)) return false;
    if (p.scope.kind === 'host') return p.scope.user === review.user && p.scope.host === review.host;
    return true;
  });
}

export function scopeFor(kind: PolicyScope['kind'], review: SignReview): PolicyScope {
  if (kind === 'host') return { kind, user: review.user ?? '', host: review.host ?? '' };
  return { kind };
}

export function grantPolicy(state: PolicyHolder, policy: StoredPolicy, now: number): void {
  state.policies = (state.policies ?? []).filter((p) => p.expiresAt > now);
  state.policies.push(policy);
}

/** Drop expired policies; returns the live ones. */
export function livePolicies(state: PolicyHolder, now: number): StoredPolicy[] {
  return (state.policies ?? []).filter((p) => p.expiresAt > now);
}

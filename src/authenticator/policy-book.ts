/**
 * Timed approvals on the authenticator (issue 3, "Policy on the authenticator"): which
 * stored policy covers a request, and granting one. Policies belong to one pairing: an
 * approval given to one computer never covers another. Pure functions over the policy list of
 * any store (the keystore, or the web authenticator's IndexedDB); browser-safe.
 */
import { LatchError } from '../util/latch-error.js';
import type { AuthenticatorState, PolicyScope, StoredPolicy } from './authenticator-state.js';
import { MAX_POLICY_SECONDS, type SignReview } from './sign-review.js';

/** Whatever holds the policy list: the keystore's state, or a plain record. */
export type PolicyHolder = Pick<AuthenticatorState, 'policies'>;

/** Seconds a policy's createdAt may lie ahead of this clock (clocks of two tabs, or a keystore moved between machines). */
const CREATED_SKEW_SECONDS = 300;

/**
 * Whether a stored policy is one this authenticator could have granted: live, and no longer than
 * MAX_POLICY_SECONDS, measured both from when it says it was made and from now. Re-checked on
 * every use, never trusted from storage (issue 16 §1): whatever can write the store (script in
 * the web app's origin, an edited keystore) must not plant an 87,600-hour "all SSH" approval.
 */
export function policyInForce(p: StoredPolicy, now: number): boolean {
  if (!Number.isSafeInteger(p.createdAt) || !Number.isSafeInteger(p.expiresAt)) return false;
  if (p.expiresAt <= now || p.createdAt > now + CREATED_SKEW_SECONDS) return false;
  return p.expiresAt - p.createdAt <= MAX_POLICY_SECONDS && p.expiresAt - now <= MAX_POLICY_SECONDS;
}

/** The live policy covering `review`, if any. */
export function coveringPolicy(state: PolicyHolder, review: SignReview, now: number): StoredPolicy | undefined {
  return (state.policies ?? []).find((p) => {
    if (p.pairingId !== review.pairingId || !policyInForce(p, now)) return false;
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
  if (!policyInForce(policy, now)) throw new LatchError('bad_policy', `a timed approval must end within ${MAX_POLICY_SECONDS / 3600} hours`);
  state.policies = (state.policies ?? []).filter((p) => policyInForce(p, now));
  state.policies.push(policy);
}

/** The policies in force (expired and over-long ones left out). */
export function livePolicies(state: PolicyHolder, now: number): StoredPolicy[] {
  return (state.policies ?? []).filter((p) => policyInForce(p, now));
}

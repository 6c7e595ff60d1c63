/** Base64 or base64url, padded or not (how browsers spell PushSubscription keys), to bytes. */
export function decodeBase64urlLoose(text: string): Uint8Array {
  const std = text.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const bin = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Which push services the relay will POST to (PROTOCOL.md §3.9). A push subscription names an
 * https URL chosen by whoever holds the queue's reader key, and anyone can make a queue: without
 * a list, the relay would send requests to any host its owner can reach, internal ones included
 * (server-side request forgery). Pure: no I/O.
 */

/**
 * The public push services of the browsers that can install the web app (their endpoints'
 * hosts, as `PushSubscription.endpoint` gives them): Chrome/Edge on Android and desktop (FCM),
 * Firefox (Mozilla autopush), Safari on macOS and iOS 16.4+ (Apple), Edge on Windows (WNS).
 * A suffix beginning with "." matches that domain's hosts on a label boundary.
 */
export const DEFAULT_PUSH_SERVICE_HOSTS: readonly string[] = [
  'fcm.googleapis.com',
  'android.googleapis.com',
  'updates.push.services.mozilla.com',
  '.push.apple.com',
  '.notify.windows.com',
];

/** A host name or `HOST:PORT` the operator added with `--push-service` (e.g. a test stand-in). */
export function isPushServiceHostSpec(spec: string): boolean {
  return /^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$/.test(spec);
}

/**
 * Whether `endpoint` (already checked to be https without credentials) goes to an allowed push
 * service: its host equals an entry, or ends with an entry that starts with "." (both on port
 * 443), or its host:port equals an entry with a port.
 */
export function isAllowedPushEndpoint(endpoint: string, allowed: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:') return false;
  const host = url.hostname.toLowerCase();
  return allowed.some((entry) => {
    const e = entry.toLowerCase();
    if (e.includes(':')) return url.host.toLowerCase() === e;
    // An entry without a port means the https port only.
    if (url.port !== '') return false;
    return e.startsWith('.') ? host.endsWith(e) && host.length > e.length : host === e;
  });
}

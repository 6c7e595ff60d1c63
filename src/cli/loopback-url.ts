/** Does a relay URL name this machine only? A phone given such a link reaches nothing (or itself). */
import { isIPv4 } from 'node:net';

export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true; // RFC 6761 §6.3
  if (isIPv4(host)) return host.startsWith('127.') || host === '0.0.0.0';
  return host === '::1' || host === '::' || /^::ffff:(127\.|7f)/.test(host);
}

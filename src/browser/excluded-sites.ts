/**
 * The per-site exclusion list (issue 11, docs/BROWSER.md "Sites left to the browser"): sites
 * where Latch steps aside and the page gets the browser's own authenticator. It lives with this
 * computer's state (`$LATCH_HOME/browser/excluded-sites.json`), is edited by
 * `latch browser exclude add|remove|list`, and is read by `latch browser host` on every request,
 * which answers `excluded_site` (a fallback code) at once, before any pairing or relay is touched.
 *
 * A site is a host name: it covers that host and every host under it on a label boundary
 * ("example.com" covers "login.example.com", never "badexample.com"), on any scheme and port.
 */
import { join } from 'node:path';
import { LatchError } from '../util/latch-error.js';
import { readFileIfExists, writeFileAtomic } from '../util/atomic-file.js';
import { withFileLock } from '../util/file-lock.js';

/** Most sites on the list: it is read on every request. */
export const MAX_EXCLUDED_SITES = 1000;

export interface ExcludedSites {
  list(): string[];
  /** false when it was already listed. */
  add(site: string): Promise<boolean>;
  /** false when it was not listed. */
  remove(site: string): Promise<boolean>;
  /** Whether the site of `origin` (a page's origin, as the browser reported it) is listed. */
  covers(origin: string): boolean;
}

/**
 * A site as the user types it ("Example.COM", "https://login.example.com:8443/x", an IDN) as
 * the lower-case ASCII host it stands for; `bad_site` for anything else.
 */
export function parseSite(text: string): string {
  const t = text.trim();
  let host: string;
  try {
    host = new URL(t.includes('://') ? t : `https://${t}`).hostname;
  } catch {
    throw new LatchError('bad_site', `not a site: "${t.slice(0, 80)}" (a host name such as example.com, or an origin)`);
  }
  // A domain (labels of letters, digits and hyphens) or localhost; an IP address cannot hold passkeys.
  if (!/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(host) || /^[0-9.]+$/.test(host)) {
    throw new LatchError('bad_site', `not a site: "${t.slice(0, 80)}" (a host name such as example.com, or an origin)`);
  }
  return host;
}

/** Whether `site` covers `host`: the same host, or one under it on a label boundary. */
export function siteCovers(site: string, host: string): boolean {
  return host === site || host.endsWith(`.${site}`);
}

function read(path: string): string[] {
  const text = readFileIfExists(path);
  if (text === undefined) return [];
  try {
    const f = JSON.parse(text) as { v?: unknown; sites?: unknown };
    if (f.v === 1 && Array.isArray(f.sites) && f.sites.every((s) => typeof s === 'string')) return f.sites as string[];
  } catch {
    // fall through
  }
  throw new LatchError('excluded_sites_damaged', `${path} is not a Latch exclusion list; fix or remove it`);
}

export function excludedSitesPath(home: string): string {
  return join(home, 'browser', 'excluded-sites.json');
}

/** The list in its file; each change is a locked read-modify-write, replaced atomically. */
export function fileExcludedSites(path: string): ExcludedSites {
  const change = (fn: (sites: string[]) => string[] | undefined): Promise<boolean> =>
    withFileLock(`${path}.lock`, () => {
      const next = fn(read(path));
      if (next === undefined) return false;
      writeFileAtomic(path, JSON.stringify({ v: 1, sites: next }, null, 2) + '\n');
      return true;
    }, { what: 'the exclusion list' });
  return {
    list: () => read(path),
    add: (site) =>
      change((sites) => {
        if (sites.includes(site)) return undefined;
        if (sites.length >= MAX_EXCLUDED_SITES) throw new LatchError('too_many_sites', `the exclusion list holds at most ${MAX_EXCLUDED_SITES} sites`);
        return [...sites, site].sort();
      }),
    remove: (site) => change((sites) => (sites.includes(site) ? sites.filter((s) => s !== site) : undefined)),
    covers: (origin) => {
      let host: string;
      try {
        host = new URL(origin).hostname;
      } catch {
        return false;
      }
      return read(path).some((s) => siteCovers(s, host));
    },
  };
}

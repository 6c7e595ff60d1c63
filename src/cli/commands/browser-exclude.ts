/**
 * `latch browser exclude add SITE | remove SITE | list [--json]` (issue 11, docs/BROWSER.md
 * "Sites left to the browser"): the sites where the page gets the browser's own authenticator
 * instead of Latch. Stored with this computer's state; `latch browser host` reads it on every
 * request. Errors: `usage` (missing or extra arguments), `bad_site`, `site_not_excluded`.
 */
import { defaultCli, parse, usageError } from '../cli-context.js';
import { LatchError } from '../../util/latch-error.js';
import { excludedSitesPath, fileExcludedSites, parseSite } from '../../browser/excluded-sites.js';

const USAGE = 'latch browser exclude add SITE | latch browser exclude remove SITE | latch browser exclude list [--json]';

export async function browserExclude(argv: string[]): Promise<number> {
  const cli = defaultCli();
  const [sub, ...rest] = argv;
  if (sub !== 'add' && sub !== 'remove' && sub !== 'list') throw usageError(sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`, USAGE);
  const { values, positionals } = parse(rest, sub === 'list' ? { json: { type: 'boolean' } } : {}, USAGE, sub === 'list' ? 0 : 1);
  const sites = fileExcludedSites(excludedSitesPath(cli.paths.home));
  if (sub === 'list') {
    const list = sites.list();
    if (values.json) cli.out(JSON.stringify({ sites: list }));
    else if (list.length === 0) cli.err('No sites are excluded: Latch answers WebAuthn requests on every site.');
    else for (const s of list) cli.out(s);
    return 0;
  }
  if (positionals[0] === undefined) throw usageError('SITE is required (a host name such as example.com)', USAGE);
  const site = parseSite(positionals[0]);
  if (sub === 'add') {
    const added = await sites.add(site);
    cli.err(added ? `${site} and the sites under it now get the browser's own authenticator, not Latch.` : `${site} was already excluded.`);
    return 0;
  }
  if (!(await sites.remove(site))) throw new LatchError('site_not_excluded', `${site} is not on the exclusion list; see \`latch browser exclude list\``);
  cli.err(`Latch answers WebAuthn requests on ${site} again.`);
  return 0;
}

/**
 * Parse a raw git commit or tag object, as git hands it to the signing program
 * (git's commit.c / tag.c object format: header lines, a blank line, the message), into
 * the fields the authenticator shows. Known headers must appear in git's order and at
 * most once (parents may repeat), so a crafted object cannot show one author while git
 * records another. Unknown headers (gpgsig, mergetag, encoding, ...) and their
 * continuation lines (leading space) are kept by name only. Pure; browser-safe.
 */
import { LatchError } from '../../util/latch-error.js';

export interface GitObjectSummary {
  kind: 'commit' | 'tag';
  tree?: string;
  parents: string[];
  author?: string;
  committer?: string;
  object?: string;
  type?: string;
  tag?: string;
  tagger?: string;
  /** Names of other headers present, in order (e.g. "encoding", "mergetag"). */
  extraHeaders: string[];
  message: string;
}

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const decoder = new TextDecoder('utf-8', { fatal: true });

function bad(detail: string): LatchError {
  return new LatchError('git_object_malformed', `git object: ${detail}`);
}

export function parseGitObject(raw: Uint8Array | string): GitObjectSummary {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else {
    try {
      text = decoder.decode(raw);
    } catch {
      throw bad('not valid UTF-8');
    }
  }
  if (text.includes('\0')) throw bad('contains a NUL byte');
  const sep = text.indexOf('\n\n');
  const headerText = sep === -1 ? text.replace(/\n$/, '') : text.slice(0, sep);
  const message = sep === -1 ? '' : text.slice(sep + 2);
  const lines = headerText.split('\n');
  const headers: { name: string; value: string }[] = [];
  for (const line of lines) {
    if (line.startsWith(' ')) {
      if (headers.length === 0) throw bad('continuation line before any header');
      continue; // continuation of a multi-line header (gpgsig, mergetag): never a known field
    }
    const sp = line.indexOf(' ');
    if (sp <= 0) throw bad('header line without a value');
    headers.push({ name: line.slice(0, sp), value: line.slice(sp + 1) });
  }
  const first = headers[0]?.name;
  if (first === 'tree') return parseCommit(headers, message);
  if (first === 'object') return parseTag(headers, message);
  throw bad('neither a commit nor a tag');
}

type Header = { name: string; value: string };

/** Consume headers in a fixed order; each named header once unless `repeat`. */
function takeOrdered(headers: Header[], order: { name: string; repeat?: boolean; optional?: boolean }[]): { known: Map<string, string[]>; extra: string[] } {
  const known = new Map<string, string[]>();
  const extra: string[] = [];
  const names = new Set(order.map((o) => o.name));
  let idx = 0;
  let i = 0;
  for (; i < headers.length; i++) {
    const h = headers[i]!;
    if (!names.has(h.name)) break;
    while (idx < order.length && order[idx]!.name !== h.name) idx++;
    if (idx === order.length) throw bad(`header "${h.name}" out of order`);
    const list = known.get(h.name) ?? [];
    if (list.length > 0 && !order[idx]!.repeat) throw bad(`duplicate "${h.name}" header`);
    list.push(h.value);
    known.set(h.name, list);
  }
  for (; i < headers.length; i++) {
    const h = headers[i]!;
    if (names.has(h.name)) throw bad(`header "${h.name}" after extra headers`);
    extra.push(h.name);
  }
  for (const o of order) if (!o.optional && !known.has(o.name)) throw bad(`missing "${o.name}" header`);
  return { known, extra };
}

function parseCommit(headers: Header[], message: string): GitObjectSummary {
  const { known, extra } = takeOrdered(headers, [
    { name: 'tree' },
    { name: 'parent', repeat: true, optional: true },
    { name: 'author' },
    { name: 'committer' },
  ]);
  const tree = known.get('tree')![0]!;
  const parents = known.get('parent') ?? [];
  for (const o of [tree, ...parents]) if (!OID.test(o)) throw bad('bad object id');
  return { kind: 'commit', tree, parents, author: known.get('author')![0]!, committer: known.get('committer')![0]!, extraHeaders: extra, message };
}

function parseTag(headers: Header[], message: string): GitObjectSummary {
  const { known, extra } = takeOrdered(headers, [{ name: 'object' }, { name: 'type' }, { name: 'tag' }, { name: 'tagger', optional: true }]);
  const object = known.get('object')![0]!;
  if (!OID.test(object)) throw bad('bad object id');
  const type = known.get('type')![0]!;
  if (!['commit', 'tree', 'blob', 'tag'].includes(type)) throw bad('bad tag type');
  const out: GitObjectSummary = { kind: 'tag', parents: [], object, type, tag: known.get('tag')![0]!, extraHeaders: extra, message };
  const tagger = known.get('tagger')?.[0];
  if (tagger !== undefined) out.tagger = tagger;
  return out;
}

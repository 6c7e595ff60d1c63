/**
 * The block `latch ssh setup` puts at the top of ~/.ssh/config (ssh_config(5): the first
 * value obtained for an option wins, so a block at the top takes effect for every host).
 * Delimited by marker lines so it can be found, shown and removed exactly. Pure.
 */
export const BEGIN = '# >>> latch ssh setup >>> (remove this block, or run `latch ssh setup --undo`, to undo)';
export const END = '# <<< latch ssh setup <<<';

function q(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `"${s}"`;
}

export function latchBlock(opts: { agentSocket: string; node: string; cli: string; hint: boolean }): string {
  const lines = [BEGIN, 'Host *', `    IdentityAgent ${q(opts.agentSocket)}`];
  if (opts.hint) {
    // Tells latch agent the host name the user typed, keyed by the host key ssh is checking (docs/AGENT.md).
    // ssh also runs it once with %K = NONE (before it has a host key): /bin/sh skips that call
    // without starting node. ssh splits this line itself (argv_split, quotes honoured), no shell.
    lines.push(
      `    KnownHostsCommand /bin/sh -c '[ "$9" = NONE ] || exec "$0" "$@"' ${q(opts.node)} ${q(opts.cli)} agent hint --agent ${q(opts.agentSocket)} %r %h %p %K`,
    );
  }
  lines.push(END);
  return lines.join('\n') + '\n';
}

/** The config without a latch block (and whether there was one). */
export function removeLatchBlock(text: string): { text: string; found: boolean } {
  const start = text.indexOf(BEGIN);
  if (start < 0) return { text, found: false };
  const end = text.indexOf(END, start);
  if (end < 0) return { text, found: false };
  let after = end + END.length;
  if (text[after] === '\n') after++;
  return { text: text.slice(0, start) + text.slice(after), found: true };
}

export function withLatchBlock(text: string, block: string): string {
  return block + removeLatchBlock(text).text;
}

/** A minimal unified-style diff of two texts (whole-line adds and removes). */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < b.length && !a.slice(i).includes(b[j]!)) out.push(`+${b[j++]}`);
    else if (i < a.length) out.push(`-${a[i++]}`);
    else out.push(`+${b[j++]}`);
  }
  return out.join('\n');
}

/**
 * The layout is the architecture (docs/ARCHITECTURE.md): these checks keep the arrows pointing
 * one way. They read the TypeScript sources' import lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(join(ROOT, p)).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!);
}

/** Resolve a relative import to a repo path ("src/..."), leave packages as they are. */
function target(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return relative(ROOT, join(ROOT, file, '..', spec));
}

test('protocol is pure and browser-safe: no node: modules, nothing of ours outside protocol and the error class', () => {
  const files = sources('src/protocol');
  assert.ok(files.length > 5);
  for (const f of files) {
    for (const spec of imports(f)) {
      const t = target(f, spec);
      assert.ok(!t.startsWith('node:'), `${f} imports ${spec}`);
      if (t.startsWith('src/')) assert.ok(t.startsWith('src/protocol/') || t === 'src/util/latch-error.js', `${f} imports ${spec}`);
    }
  }
});

test('the relay never imports key-handling code', () => {
  const forbidden = ['src/authenticator/', 'src/computer/', 'src/agent/', 'src/custody/', 'src/ledger/', 'src/cli/', 'src/protocol/envelope', 'src/protocol/messages'];
  for (const f of sources('src/relay')) {
    for (const spec of imports(f)) {
      const t = target(f, spec);
      for (const bad of forbidden) assert.ok(!t.startsWith(bad), `${f} imports ${spec}`);
    }
  }
});

test('parts do not import the CLI or the server composition', () => {
  for (const dir of ['src/protocol', 'src/relay', 'src/transport', 'src/authenticator', 'src/computer', 'src/agent', 'src/ledger', 'src/custody', 'src/sdk']) {
    for (const f of sources(dir)) {
      for (const spec of imports(f)) {
        const t = target(f, spec);
        assert.ok(!t.startsWith('src/cli/') && !t.startsWith('src/server/'), `${f} imports ${spec}`);
      }
    }
  }
});

test('what the web app bundles is browser-safe: nothing reachable from the page imports a node: module or the keystore', () => {
  // Follow relative imports from the page's entry and src/web, as esbuild does, to the whole set.
  const seen = new Set<string>();
  const todo = ['web/app.ts', ...sources('src/web')];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const spec of imports(f)) {
      const t = target(f, spec);
      assert.ok(!t.startsWith('node:'), `${f} imports ${spec}`);
      // Node-only parts of the authenticator: the keystore file and its lock, process ids.
      assert.ok(!['src/authenticator/keystore.js', 'src/authenticator/request-handler.js', 'src/util/file-lock.js', 'src/util/atomic-file.js'].includes(t), `${f} imports ${spec}`);
      // Nothing of the agent (Node sockets); what the core shares with it lives in src/protocol.
      assert.ok(!t.startsWith('src/agent/'), `${f} imports ${spec}`);
      if (t.startsWith('src/') || t.startsWith('web/')) todo.push(t.replace(/\.js$/, '.ts'));
    }
  }
  for (const f of ['src/authenticator/request-core.ts', 'src/authenticator/ssh-sign-core.ts', 'src/authenticator/custody-notice-core.ts', 'src/authenticator/custody-device-key.ts', 'src/protocol/envelope.ts']) assert.ok(seen.has(f), `the walk reaches ${f}`);
});

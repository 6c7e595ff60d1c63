import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import fc from 'fast-check';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.js';
import { newQueue } from './helpers/relay-keys.js';
import { sodiumReady } from '../src/protocol/sodium.js';
import { signRelayProof } from '../src/relay/relay-proof.js';

const sodium = await sodiumReady();

let relay: RelayProcess;
before(async () => {
  relay = await startRelayProcess({ args: ['--rate-limit', 'off', '--max-message-bytes', '1024'] });
});
after(async () => {
  await relay.stop();
});

function raw(method: string, path: string, headers: Record<string, string>, body: Uint8Array): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    // Explicit framing: node's client sends GET/DELETE/OPTIONS bodies without Content-Length.
    const framed = method === 'HEAD' ? headers : { ...headers, 'content-length': String(body.length) };
    const req = request({ host: '127.0.0.1', port: relay.port, method, path, headers: framed }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('fuzz: random and mutated HTTP requests always get a JSON answer and never crash the relay', async () => {
  const q = await newQueue();
  const segment = fc.oneof(
    fc.constantFrom('v1', 'queues', 'messages', 'ack', 'close', 'health', 'ws', q.id, '', '..', '%00', 'AAAAAAAAAAAAAAAAAAAAAA'),
    fc.stringMatching(/^[A-Za-z0-9_%.~-]{0,30}$/),
  );
  const path = fc.tuple(fc.array(segment, { maxLength: 6 }), fc.stringMatching(/^[A-Za-z0-9=&%._-]{0,40}$/)).map(
    ([segs, query]) => '/' + segs.join('/') + (query === '' ? '' : '?' + query),
  );
  const knownPath = fc.constantFrom(`/v1/queues/${q.id}/messages`, `/v1/queues/${q.id}/ack`, `/v1/queues/${q.id}/close`, '/v1/health');
  const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
  // Signed over the body actually sent (PROTOCOL.md §3.2), so signed acks and closes reach the handlers.
  const authFor = (m: string, p: string, b: Uint8Array) => signRelayProof(sodium, q, m, p.split('?')[0]!, Math.floor(Date.now() / 1000), b);
  const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/);
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 2000 }),
    fc.json().map((j) => new TextEncoder().encode(j)),
    fc.constantFrom('{"ids":["1"]}', '{"reason":"x"}', '{"ids":[').map((s) => new TextEncoder().encode(s)),
  );
  let prev = '';
  await fc.assert(
    fc.asyncProperty(
      method,
      fc.oneof(path, knownPath),
      fc.boolean(),
      fc.option(fc.constantFrom('application/octet-stream', 'application/json', 'text/plain'), { nil: undefined }),
      fc.option(headerValue, { nil: undefined }),
      body,
      async (m, p, signed, type, junkAuth, b) => {
        try {
        const headers: Record<string, string> = {};
        if (type !== undefined) headers['content-type'] = type;
        if (signed) headers['latch-auth'] = authFor(m, p, m === 'GET' ? new Uint8Array(0) : b);
        else if (junkAuth !== undefined) headers['latch-auth'] = junkAuth;
        // A body on HEAD has no framing in node's client, so it would test the client, not the relay.
        const r = await raw(m, p, headers, m === 'HEAD' ? new Uint8Array(0) : b).catch((e: unknown) => {
          throw new Error(`${m} ${p}: ${String(e)}`);
        });
        assert.ok(r.status >= 200 && r.status < 600);
        assert.notEqual(r.status, 500, `${m} ${p} -> 500 ${r.text}`);
        if (m === 'HEAD' || r.status === 204) return;
        const json = JSON.parse(r.text);
        if (r.status >= 400) {
          assert.equal(typeof json.error.code, 'string');
          assert.equal(typeof json.error.message, 'string');
        }
      prev = `${m} ${p} ${JSON.stringify(headers)} ${b.length}`;
        } catch (e) {
          console.error('failed after', prev);
          throw e;
        }
      },
    ),
    { numRuns: 1500 },
  );
  const health = await raw('GET', '/v1/health', {}, new Uint8Array(0));
  assert.equal(health.status, 200);
  assert.doesNotMatch(relay.stderr(), /internal error/);
});

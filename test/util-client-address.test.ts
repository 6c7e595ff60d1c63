/**
 * Client addresses behind a reverse proxy (`latch server --trusted-proxy`): rate limits key on
 * the real client, and a client cannot pick its own bucket by sending X-Forwarded-For.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clientAddressFrom, parseTrustedProxies } from '../src/util/client-address.js';
import { startRelayProcess } from './helpers/relay-process.js';
import { latchRun } from './helpers/latch-process.js';

const trusted = parseTrustedProxies(['127.0.0.1', '10.0.0.1', '::1']);

test('clientAddressFrom: the rightmost untrusted hop, only when the peer is a trusted proxy', () => {
  const cases: [string, string | undefined, string][] = [
    ['203.0.113.7', undefined, '203.0.113.7'], // no proxy
    ['203.0.113.7', '198.51.100.1', '203.0.113.7'], // untrusted peer: header ignored
    ['127.0.0.1', undefined, '127.0.0.1'], // trusted peer, no header
    ['127.0.0.1', '198.51.100.1', '198.51.100.1'],
    ['::ffff:127.0.0.1', '198.51.100.1', '198.51.100.1'], // IPv4-mapped peer is the same proxy
    ['127.0.0.1', '6.6.6.6, 198.51.100.1', '198.51.100.1'], // the client's own claim (left) is not believed
    ['127.0.0.1', '6.6.6.6, 198.51.100.1, 10.0.0.1', '198.51.100.1'], // a chain of trusted proxies
    ['127.0.0.1', '10.0.0.1', '10.0.0.1'], // every hop trusted: the leftmost
    ['127.0.0.1', 'garbage, 198.51.100.1', '198.51.100.1'],
    ['127.0.0.1', '198.51.100.1, garbage', '127.0.0.1'], // the proxy appended no valid hop
    ['127.0.0.1', '2001:DB8::5', '2001:db8::5'],
  ];
  for (const [peer, xff, want] of cases) assert.equal(clientAddressFrom(peer, xff, trusted), want, `${peer} / ${xff}`);
  assert.equal(clientAddressFrom('127.0.0.1', ['6.6.6.6', '198.51.100.1'], trusted), '198.51.100.1', 'repeated headers join in order');
  assert.throws(() => parseTrustedProxies(['10.0.0.0/8']), TypeError);
  assert.throws(() => parseTrustedProxies(['proxy.local']), TypeError);
});

test('property: from an untrusted peer the header never matters; from a trusted one, a client-chosen prefix never does', () => {
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.'));
  fc.assert(
    fc.property(ipv4, fc.array(fc.oneof(ipv4, fc.string())), (peer, hops) => {
      fc.pre(!trusted.has(peer));
      assert.equal(clientAddressFrom(peer, hops.join(', '), trusted), peer);
    }),
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(ipv4, fc.string({ maxLength: 20 }))), ipv4, (prefix, real) => {
      fc.pre(!trusted.has(real));
      // What the client wrote comes first; the trusted proxy appended the real address.
      assert.equal(clientAddressFrom('127.0.0.1', [...prefix.map((p) => p.replace(/,/g, '')), real].join(', '), trusted), real);
    }),
  );
});

test('latch server --trusted-proxy: each forwarded client gets its own rate-limit bucket; without it, the header is ignored', async () => {
  const burst = async (url: string, xff: string, n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = await fetch(`${url}/v1/health`, { headers: { 'x-forwarded-for': xff } });
      await r.text();
      out.push(r.status);
    }
    return out;
  };
  const behindProxy = await startRelayProcess({ args: ['--rate-limit', '1/3', '--trusted-proxy', '127.0.0.1'] });
  try {
    assert.deepEqual(await burst(behindProxy.url, '198.51.100.1', 5), [200, 200, 200, 429, 429]);
    assert.deepEqual((await burst(behindProxy.url, '198.51.100.2', 1)), [200], 'another client behind the proxy is not limited by the first');
  } finally {
    await behindProxy.stop();
  }
  const direct = await startRelayProcess({ args: ['--rate-limit', '1/3'] });
  try {
    assert.deepEqual(await burst(direct.url, '198.51.100.1', 4), [200, 200, 200, 429]);
    assert.deepEqual(await burst(direct.url, '198.51.100.2', 1), [429], 'a spoofed header does not buy a new bucket');
  } finally {
    await direct.stop();
  }
  const bad = await latchRun(['server', '--trusted-proxy', '10.0.0.0/8']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--trusted-proxy takes the proxy's IP address: not an IP address: "10\.0\.0\.0\/8"/);
});

/**
 * test/relay-http.test.ts again, with the relay on NATS JetStream (`--relay-store`, issue 10): bad input
 * must behave exactly as on the embedded store, with the same HTTP and socket errors.
 */
process.env.LATCH_TEST_RELAY_STORE = 'jetstream';
await import('./relay-http.test.js');

/**
 * test/relay-ws.test.ts again, with the relay on NATS JetStream (`--relay-store`, issue 10): bad
 * frames, caps and subscriptions must behave exactly as on the embedded store.
 */
process.env.LATCH_TEST_RELAY_STORE = 'jetstream';
await import('./relay-ws.test.js');

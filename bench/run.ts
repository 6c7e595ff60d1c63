/**
 * `npm run bench`: every benchmark, each against a baseline measured in the same process on
 * the same machine. Prints figures; never asserts on them (tests do not time anything).
 */
import { availableParallelism, cpus } from 'node:os';
import { relayBench } from './relay-bench.js';
import { relayScaleBench } from './relay-scale-bench.js';
import { agentBench } from './agent-bench.js';
import { custodyBench } from './custody-bench.js';
import { webauthnBench } from './webauthn-bench.js';
import { pushBench } from './push-bench.js';

const sections: [string, () => Promise<string[]>][] = [
  ['Relay round trip (issue 2)', relayBench],
  ['Relay on JetStream across nodes (issue 10)', relayScaleBench],
  ['SSH sign round trip and login (issue 3)', agentBench],
  ['Custody co-sign (issue 4), embedded SQLite against PostgreSQL (issue 10)', custodyBench],
  ['WebAuthn get round trip (issue 11)', webauthnBench],
  ['Web Push wake-up, app closed, beside the socket path (issue 14)', pushBench],
];

console.log(`latch bench — node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'})`);
for (const [title, run] of sections) {
  console.log(`\n== ${title}`);
  for (const line of await run()) console.log(line);
}

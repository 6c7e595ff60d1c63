/**
 * A real `latch server`, the web authenticator open in real Chromium and paired by pasted link
 * with a computer home ("laptop") running a real `latch agent`: what the web SSH tests start from.
 */
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { AgentClient } from '../../src/agent/agent-client.js';
import { decodeSignResponse, encodeSignRequest } from '../../src/agent/agent-codec.js';
import { parseAuthorizedKeyLine } from '../../src/protocol/ssh/ssh-public-key.js';
import { SshWriter } from '../../src/protocol/ssh/ssh-wire.js';
import { latch, startLatchServer, tempDir, type LatchServer } from './latch-process.js';
import { latchInteractive, type Watched } from './latch-ssh-env.js';
import { chromium, pairPageByLink } from './web-browser.js';

export interface PairedPage {
  srv: LatchServer;
  page: Page;
  /** The computer's LATCH_HOME. */
  computer: string;
  agent: Watched;
  agentSocket: string;
  /** The page's SSH public key (authorized_keys line). */
  pageKey: string;
  stop(): Promise<void>;
}

/** Pair the page at `page` (already on /app/ and ready) with a new computer home named `name`. */
export async function pairPage(page: Page, serverUrl: string, name: string, home = tempDir(`web-${name}`)): Promise<string> {
  const pair = latch(['pair', '--server', serverUrl, '--uri-only', '--timeout', '60', '--name', name], { home });
  const [link] = await pair.waitFor(/^latch:\S+/m, 'stdout');
  await page.evaluate(() => (location.hash = 'pair'));
  await pairPageByLink(page, link, { computerName: name });
  assert.equal((await pair.exited).code, 0, pair.stderr());
  return home;
}

/** Start an agent for the computer home `home` (interactive sign timeout `signTimeout` s). */
export async function startAgent(home: string, signTimeout = 20): Promise<{ agent: Watched; agentSocket: string }> {
  const dir = tempDir('web-agent');
  fs.chmodSync(dir, 0o700);
  const agentSocket = path.join(dir, 'agent.sock');
  // The agent waits --sign-timeout for the page's ack, then ACK_EXTENSION_SECONDS (60 s) for the answer.
  const agent = latchInteractive(['agent', '--socket', agentSocket, '--sign-timeout', String(signTimeout), '--no-upstream'], home);
  await agent.waitFor(/agent listening on /);
  return { agent, agentSocket };
}

export async function openPairedPage(opts: { context?: BrowserContextOptions; beforeGoto?: (page: Page) => Promise<void> } = {}): Promise<PairedPage> {
  const srv = await startLatchServer();
  const ctx = await (await chromium()).newContext(opts.context ?? { viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (process.env.LATCH_TEST_VERBOSE) console.log(`[page] ${m.text()}`);
  });
  await opts.beforeGoto?.(page);
  await page.goto(`${srv.url}/app/`);
  await page.waitForSelector('body[data-ready="true"]');
  const computer = await pairPage(page, srv.url, 'laptop');
  const pageKey = (await page.getByLabel('SSH public key').textContent())!.trim();
  const { agent, agentSocket } = await startAgent(computer);
  return {
    srv,
    page,
    computer,
    agent,
    agentSocket,
    pageKey,
    async stop() {
      await ctx.close().catch(() => undefined);
      await agent.stop();
      await srv.stop().catch(() => undefined);
    },
  };
}

/**
 * An SSH userauth sign request for `user` straight to the agent, with no session-bind (so the
 * host is "not verified"): a card with no sshd needed. Resolves once sent; `answer` settles with
 * the agent's reply (rejects when refused).
 */
export async function askAgentToSign(agentSocket: string, pageKey: string, user: string): Promise<{ answer: Promise<Uint8Array> }> {
  const { blob: key, type } = parseAuthorizedKeyLine(pageKey);
  const data = new SshWriter().string(new Uint8Array(32).fill(7)).byte(50).string(user).string('ssh-connection').string('publickey').bool(true).string(type).string(key).bytes();
  const client = await AgentClient.connect(agentSocket);
  const answer = client.request(encodeSignRequest(key, data)).then(decodeSignResponse).finally(() => client.close());
  // Callers await it later; a refusal before then is not an unhandled rejection.
  answer.catch(() => undefined);
  return { answer };
}

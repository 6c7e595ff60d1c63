/**
 * A minimal ssh-agent protocol client over a unix socket: one request at a time, in
 * order, as the protocol requires. Used for the upstream agent, the git signing program
 * and tests. Node only.
 */
import net from 'node:net';
import { LatchError } from '../util/latch-error.js';
import { AgentFrameReader, frame } from './agent-codec.js';

export class AgentClient {
  private readonly reader = new AgentFrameReader();
  private readonly waiting: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (chunk) => {
      let bodies: Uint8Array[];
      try {
        bodies = this.reader.push(chunk);
      } catch (e) {
        this.fail(e instanceof Error ? e : new LatchError('agent_bad_frame', 'bad frame from agent'));
        return;
      }
      for (const b of bodies) this.waiting.shift()?.resolve(b);
    });
    sock.on('error', () => this.fail(new LatchError('agent_unreachable', 'agent connection failed')));
    sock.on('close', () => this.fail(new LatchError('agent_unreachable', 'agent connection closed')));
  }

  static connect(path: string, timeoutMs = 5000): Promise<AgentClient> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(path);
      const t = setTimeout(() => {
        sock.destroy();
        reject(new LatchError('agent_unreachable', 'timed out connecting to the agent'));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve(new AgentClient(sock));
      });
      sock.once('error', (e) => {
        clearTimeout(t);
        reject(new LatchError('agent_unreachable', `cannot connect to the agent socket (${(e as NodeJS.ErrnoException).code ?? 'error'})`));
      });
    });
  }

  private fail(e: Error): void {
    this.closed = true;
    this.sock.destroy();
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send one request body, resolve with the response body. */
  request(body: Uint8Array): Promise<Uint8Array> {
    const p = this.chain.then(
      () =>
        new Promise<Uint8Array>((resolve, reject) => {
          if (this.closed) {
            reject(new LatchError('agent_unreachable', 'agent connection closed'));
            return;
          }
          this.waiting.push({ resolve, reject });
          this.sock.write(frame(body));
        }),
    );
    this.chain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}

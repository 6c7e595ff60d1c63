/** Is the relay there? Asked before a user waits 90 s for nothing. */
import { LatchError } from '../util/latch-error.js';

export async function checkRelay(url: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(5000) });
  } catch {
    throw new LatchError('relay_unreachable', `cannot reach the relay at ${url}: start it with \`latch server\`, or pass --server URL`);
  }
  const body = (await res.json().catch(() => undefined)) as { service?: string } | undefined;
  if (!res.ok || body?.service !== 'latch-relay') {
    throw new LatchError('relay_unreachable', `${url} answered, but it is not a Latch relay`);
  }
}

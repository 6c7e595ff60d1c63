/**
 * The few extension APIs Latch uses (developer.chrome.com/docs/extensions/reference), declared
 * here instead of pulling in @types/chrome for a handful of calls.
 */
declare namespace chrome.runtime {
  interface MessageSender {
    origin?: string;
    url?: string;
    frameId?: number;
    tab?: { id?: number; url?: string };
  }
  interface Port {
    name: string;
    sender?: MessageSender;
    postMessage(message: unknown): void;
    disconnect(): void;
    onMessage: { addListener(cb: (message: unknown, port: Port) => void): void };
    onDisconnect: { addListener(cb: (port: Port) => void): void };
  }
  const lastError: { message?: string } | undefined;
  function connect(info?: { name?: string }): Port;
  function connectNative(application: string): Port;
  const onConnect: { addListener(cb: (port: Port) => void): void };
}

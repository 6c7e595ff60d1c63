/**
 * A WebSocket echo server in a process of its own, for agent-bench's wake-up floor: what one
 * round trip between two processes costs on this machine with no relay and no work in it.
 * Prints its port, then echoes every frame. Bench-only; never part of the product.
 */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('listening', () => console.log(String((wss.address() as { port: number }).port)));
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
process.once('SIGTERM', () => wss.close(() => process.exit(0)));

// Server-sent events to every open lab page: one long-lived response per
// page, each message `event: <name>` + one JSON data line. SSE rather than a
// WebSocket: the updates only flow one way (clicks are plain POSTs), the
// browser reconnects by itself, and node:http serves it with no library.
import type { ServerResponse } from 'node:http';

/** The open event streams of the lab page server. */
export class LabEventStream {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor() {
    // A comment line now and then, so a proxy or the browser never takes a quiet lab for a dead connection.
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.write(': quiet\n\n');
    }, 15_000);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Start the stream on `res`, first sending `greeting` (as one event) so the page draws at once. */
  open(res: ServerResponse, greeting: { event: string; data: unknown }, headers: Record<string, string>): void {
    res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(`retry: 1000\n\n`);
    res.write(format(greeting.event, greeting.data));
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  send(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    this.sendJson(event, JSON.stringify(data));
  }

  /** Send data already serialised as one line of JSON. */
  sendJson(event: string, json: string): void {
    const message = `event: ${event}\ndata: ${json}\n\n`;
    for (const c of this.clients) c.write(message);
  }

  /** End every stream (the lab is quitting). */
  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function format(event: string, data: unknown): string {
  // JSON.stringify never emits a raw newline, so one data line carries it all.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

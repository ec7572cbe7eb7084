// The lab page server (`robust-shm-lab --web`): node:http on 127.0.0.1 by
// default, the page's files, a token-guarded API and a server-sent event
// stream of the lab's timeline and view. It drives the same LabController the
// terminal lab and --script drive; it owns nothing of the lab (quitting the
// lab stays with the caller), only its socket, which close() shuts with every
// connection.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LabController } from '../controller.js';
import { allowedHostHeaders, isLoopbackHost, LabWebError, newLabToken } from './auth.js';
import { LabEventStream } from './event-stream.js';
import { pageView } from './page-view.js';
import { handleRequest } from './routes.js';
import { loadPageFiles } from './static-files.js';
import { LabTimeline } from './timeline.js';

export { LabWebError } from './auth.js';

/** Where and how to serve the lab page. */
export interface LabWebOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 0: a free one). */
  port?: number;
  /** Must be true to bind anything but loopback: the page can kill processes. The CLI sets it only for --host. */
  exposed?: boolean;
  /** The token (default: a fresh random one). */
  token?: string;
  /** How often the view is sent to open pages, when it changed (default 200 ms). */
  viewEveryMs?: number;
}

/** A running lab page server. */
export interface LabWebServer {
  /** The address to open, token included. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly token: string;
  /** Open event streams now. */
  readonly pages: number;
  /** Say goodbye to open pages and close the socket and every connection. */
  close(): Promise<void>;
}

/** Start serving the lab page for `lab`. */
export async function startLabWebServer(lab: LabController, options: LabWebOptions = {}): Promise<LabWebServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && options.exposed !== true) {
    throw new LabWebError('ERR_LAB_WEB_EXPOSED', `refusing to serve the lab page on ${host}, which is not loopback: anyone who can reach it could kill processes (say --host ${host} to mean it)`);
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new LabWebError('ERR_LAB_WEB_PORT', `port must be 0..65535, got ${port}`);
  const token = options.token ?? newLabToken();
  const files = loadPageFiles();
  const stream = new LabEventStream();
  const timeline = new LabTimeline();
  for (const e of lab.events) timeline.add(e);
  let closing = false;
  const unsubscribe = lab.onEvent((e) => stream.send('entry', timeline.add(e)));

  const allowedHosts = new Set<string>();
  const server: Server = createServer((req, res) => handleRequest(req, res, { lab, token, allowedHosts, files, stream, timeline, closing: () => closing }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new LabWebError(error.code === 'EADDRINUSE' ? 'ERR_LAB_WEB_PORT_IN_USE' : 'ERR_LAB_WEB_LISTEN', `cannot serve the lab page on ${host}:${port}: ${error.message}`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  for (const h of allowedHostHeaders(host, bound)) allowedHosts.add(h);

  // The view, to open pages only, and only when it changed (a quiet lab sends nothing but the clock each second).
  let lastView = '';
  const viewTimer = setInterval(() => {
    if (closing || stream.size === 0) return;
    const text = JSON.stringify(pageView(lab));
    if (text !== lastView) {
      lastView = text;
      stream.sendJson('view', text);
    }
  }, options.viewEveryMs ?? 200);

  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}/?token=${token}`,
    host,
    port: bound,
    token,
    get pages() {
      return stream.size;
    },
    async close() {
      if (closing) return;
      closing = true;
      unsubscribe();
      clearInterval(viewTimer);
      stream.send('bye', { message: 'the lab quit' });
      stream.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

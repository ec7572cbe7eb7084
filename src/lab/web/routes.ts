// The lab page server's requests, one function: refuse a foreign Host
// header, serve the page's files, and behind the token the API: the view and
// timeline (GET /api/state), the live stream (GET /api/events) and a command
// (POST /api/command, one --script word such as "kill 2", so the page, the
// keys and --script all run the same commands). No response carries a CORS
// header: another origin can neither read the API nor send it the token's
// custom header.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LabController } from '../controller.js';
import { runCommand } from '../commands.js';
import { parseScript, ScriptError, type ScriptCommand } from '../script.js';
import { tokenMatches } from './auth.js';
import type { LabEventStream } from './event-stream.js';
import { pageView } from './page-view.js';
import type { PageFile } from './static-files.js';
import type { LabTimeline } from './timeline.js';

/** What the request handler works with. */
export interface RouteContext {
  lab: LabController;
  token: string;
  /** Host header values that name the served address (lower case). */
  allowedHosts: Set<string>;
  files: Map<string, PageFile>;
  stream: LabEventStream;
  timeline: LabTimeline;
  /** True once the lab is quitting: the view is no longer read, commands are refused. */
  closing: () => boolean;
}

/** The header that carries the token on a POST (a custom header also forces a CORS preflight, which we never answer). */
export const TOKEN_HEADER = 'x-lab-token';

/** The page's commands: what a click can do. Waiting words (wait, ready, timed chaos) and quit stay with the terminal and --script. */
const PAGE_OPS = new Set<ScriptCommand['op']>(['kill', 'park', 'unpark', 'stop', 'cont', 'add', 'respawn', 'chaos', 'rate']);
const MAX_BODY = 1024;

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // The token is in the page's address: never send it on as a Referer.
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Handle one request. */
export function handleRequest(req: IncomingMessage, res: ServerResponse, ctx: RouteContext): void {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!ctx.allowedHosts.has(host)) return refuse(res, 403, `Host '${host}' is not the address this lab serves`);
  const url = new URL(req.url ?? '/', 'http://lab.invalid');
  const method = req.method ?? 'GET';

  if (!url.pathname.startsWith('/api/')) {
    const file = ctx.files.get(url.pathname);
    if (!file) return refuse(res, 404, 'no such page');
    if (method !== 'GET' && method !== 'HEAD') return refuse(res, 405, 'the page is read with GET');
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? file.gzipped : file.body;
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': file.type, 'Content-Length': body.length, Vary: 'Accept-Encoding', ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) });
    res.end(method === 'HEAD' ? undefined : body);
    return;
  }

  const presented = (req.headers[TOKEN_HEADER] as string | undefined) ?? url.searchParams.get('token');
  if (!tokenMatches(presented, ctx.token)) return refuse(res, 403, 'missing or wrong token: open the address the lab printed');

  if (url.pathname === '/api/state' && method === 'GET') {
    if (ctx.closing()) return refuse(res, 503, 'the lab is quitting');
    return json(res, 200, { view: pageView(ctx.lab), timeline: ctx.timeline.recent() });
  }
  if (url.pathname === '/api/events' && method === 'GET') {
    if (ctx.closing()) return refuse(res, 503, 'the lab is quitting');
    ctx.stream.open(res, { event: 'hello', data: { view: pageView(ctx.lab), timeline: ctx.timeline.recent() } }, SECURITY_HEADERS);
    return;
  }
  if (url.pathname === '/api/command') {
    if (method !== 'POST') return refuse(res, 405, 'commands are POSTed');
    readBody(req, (body) => {
      if (body === null) return refuse(res, 413, `a command is at most ${MAX_BODY} bytes`);
      void runPageCommand(body, ctx).then(
        (result) => json(res, result.status, result.body),
        (error: unknown) => json(res, 500, { ok: false, message: `error: ${(error as Error).message}` }),
      );
    });
    return;
  }
  refuse(res, 404, 'no such API');
}

async function runPageCommand(body: string, ctx: RouteContext): Promise<{ status: number; body: { ok: boolean; message: string } }> {
  if (ctx.closing()) return { status: 503, body: { ok: false, message: 'the lab is quitting' } };
  let text: unknown;
  try {
    text = (JSON.parse(body) as { command?: unknown }).command;
  } catch {
    return { status: 400, body: { ok: false, message: 'send JSON: {"command": "kill 2"}' } };
  }
  if (typeof text !== 'string') return { status: 400, body: { ok: false, message: 'send JSON: {"command": "kill 2"}' } };
  let commands: ScriptCommand[];
  try {
    commands = parseScript(text);
  } catch (error) {
    if (error instanceof ScriptError) return { status: 400, body: { ok: false, message: error.message } };
    throw error;
  }
  const command = commands[0];
  if (commands.length !== 1 || !command) return { status: 400, body: { ok: false, message: 'one command at a time' } };
  if (!PAGE_OPS.has(command.op)) return { status: 400, body: { ok: false, message: `'${command.op}' is not a page command (${[...PAGE_OPS].join(', ')})` } };
  const result = await runCommand(ctx.lab, command);
  return { status: 200, body: result };
}

function readBody(req: IncomingMessage, done: (body: string | null) => void): void {
  let size = 0;
  const chunks: Buffer[] = [];
  let over = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) over = true;
    else chunks.push(chunk);
  });
  req.on('end', () => done(over ? null : Buffer.concat(chunks).toString('utf8')));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
}

// `robust-shm-lab --web`: the lab served to a browser. The first line on
// standard output is the page's address (tests and scripts read it); then the
// lab's events as the scripted lab prints them. --script commands run beside
// the page. It ends as the terminal lab does, on `q` (or Ctrl-C) typed on its
// terminal, SIGINT, SIGTERM or SIGHUP, or a script's quit: the page is told
// goodbye, the socket closed, then the lab quits (participants reaped, region
// removed).
import type { LabController, LabEvent } from '../controller.js';
import { runCommand } from '../commands.js';
import type { ScriptCommand } from '../script.js';
import { isLoopbackHost } from './auth.js';
import { startLabWebServer, type LabWebServer } from './server.js';

/** How to serve the lab (the CLI's --host, --port, --script). */
export interface ServeLabOptions {
  host: string;
  port: number;
  /** --host was given: a non-loopback address is allowed (with a warning). */
  exposed: boolean;
  /** --script commands to run beside the page (a quit among them ends the lab). */
  commands?: ScriptCommand[];
  /** Writes one event line (text or JSON, as the CLI prints them). */
  printEvent: (event: LabEvent) => void;
  /** Writes one plain line to standard output. */
  say: (line: string) => void;
}

/** Serve `lab` until it is told to quit; resolves once the lab has quit and the socket is closed. */
export async function serveLab(lab: LabController, o: ServeLabOptions): Promise<void> {
  let server: LabWebServer;
  try {
    server = await startLabWebServer(lab, { host: o.host, port: o.port, exposed: o.exposed });
  } catch (error) {
    await lab.quit();
    throw error;
  }
  o.say(`lab page: ${server.url}`);
  if (!isLoopbackHost(o.host)) {
    process.stderr.write(`lock-lab: WARNING: serving on ${o.host}, not loopback: anyone who can reach port ${server.port} and learns the token can kill this lab's processes\n`);
  }
  for (const e of lab.events) o.printEvent(e);
  const unsubscribe = lab.onEvent(o.printEvent);

  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let quitting: Promise<void> | undefined;
  const quit = () =>
    (quitting ??= (async () => {
      await server.close();
      await lab.quit();
      unsubscribe();
      finish();
    })());

  const input = process.stdin;
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    // q (a key in a terminal, a line through a pipe) or Ctrl-C in raw mode
    if (/(^|\n)q\b|\x03/.test(text) || (input.isTTY && text.includes('q'))) void quit();
  };
  const onSignal = () => void quit();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  if (input.isTTY) input.setRawMode(true);
  input.on('data', onData);
  input.resume();
  if (o.commands) {
    void (async () => {
      for (const c of o.commands!) {
        if (quitting) return;
        if (c.op === 'quit') return void quit();
        await runCommand(lab, c);
      }
    })().catch((error: unknown) => {
      process.stderr.write(`lock-lab: script failed: ${(error as Error).message}\n`);
      void quit();
    });
  }
  try {
    await finished;
  } finally {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal);
    input.off('data', onData);
    if (input.isTTY) input.setRawMode(false);
    input.pause();
  }
}

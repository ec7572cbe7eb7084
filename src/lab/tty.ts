// The interactive lab in a terminal: raw keys in, the screen out.
//
// Plain ANSI, no UI library: the alternate screen, cursor positioning and
// erase-to-end-of-line are all this needs, they work in every terminal and in
// tmux, and nothing here can pull in a dependency that drops Node 20. The
// screen is redrawn at most 10 times a second and only the lines that changed
// are rewritten, so a quiet lab writes nothing at all.
import type { LabController } from './controller.js';
import { runCommand } from './commands.js';
import { keyAction, splitKeys } from './keys.js';
import { renderScreen, type ScreenState } from './screen.js';

const REDRAW_MS = 100;

export async function runInteractive(lab: LabController, options: { color: boolean }): Promise<void> {
  const out = process.stdout;
  const input = process.stdin;
  const ui: ScreenState = { selected: 1, message: 'h for help; select with 1-9, then k kill / p park / s stop', help: false };
  let previous: string[] = [];
  let dirty = true;
  let lastSecond = -1;
  let quitting: Promise<void> | undefined;
  let resolveFinished: () => void = () => {};

  const draw = () => {
    const size = { width: Math.min(out.columns || 80, 200), height: Math.max(out.rows || 24, 12) };
    const snapshot = lab.snapshot();
    const lines = renderScreen(snapshot, lab.events, ui, { ...size, color: options.color });
    let buf = '';
    lines.forEach((line, i) => {
      if (previous[i] !== line) buf += `\x1b[${i + 1};1H${line}\x1b[K`;
    });
    previous = lines;
    if (buf) out.write(buf);
  };

  const redrawIfNeeded = () => {
    const second = Math.floor(performance.now() / 1000);
    // State changes, a key, or the uptime clock ticking over: anything else writes nothing.
    if (lab.takeChanged() || dirty || second !== lastSecond) {
      dirty = false;
      lastSecond = second;
      draw();
    }
  };

  const restore = () => {
    if (input.isTTY) input.setRawMode(false);
    out.write('\x1b[0m\x1b[?25h\x1b[?1049l');
  };

  out.write('\x1b[?1049h\x1b[?25l\x1b[2J');
  const onResize = () => {
    previous = [];
    out.write('\x1b[2J');
    dirty = true;
  };
  out.on('resize', onResize);
  process.once('exit', restore);
  const timer = setInterval(redrawIfNeeded, REDRAW_MS);

  const quit = () => {
    quitting ??= (async () => {
      ui.message = 'quitting: reaping every participant...';
      dirty = true;
      redrawIfNeeded();
      await lab.quit();
      resolveFinished();
    })();
    return quitting;
  };

  const finished = new Promise<void>((resolve) => {
    resolveFinished = resolve;
    const onData = (chunk: Buffer) => {
      for (const key of splitKeys(chunk.toString('utf8'))) onKey(key);
    };
    const onKey = (key: string) => {
      if (quitting) return;
      if (ui.help) {
        ui.help = false;
        dirty = true;
        if (key !== 'q') return;
      }
      const action = keyAction(key, ui.selected);
      const count = lab.participantCount;
      switch (action.kind) {
        case 'select':
          if (action.n > count) ui.message = `no participant #${action.n} (there are ${count})`;
          else ui.selected = action.n;
          break;
        case 'move':
          ui.selected = Math.min(Math.max(1, ui.selected + action.delta), Math.max(1, count));
          break;
        case 'help':
          ui.help = true;
          break;
        case 'chaos-toggle':
          ui.message = lab.setChaos(!lab.chaosOn).message;
          break;
        case 'chaos-rate':
          ui.message = lab.changeChaosRate(action.factor).message;
          break;
        case 'quit':
          input.off('data', onData);
          void quit();
          break;
        case 'unknown':
          ui.message = `key ${JSON.stringify(action.key)} does nothing (h for help)`;
          break;
        case 'command': {
          const command = action.command;
          if (command.op === 'park') ui.message = `parking #${command.n}: waiting for it to reach ${command.where === 'heap' ? 'a heap operation' : 'its critical section'}...`;
          // The s key toggles: stop a running process, continue a stopped one.
          const running = command.op === 'stop' ? Promise.resolve(lab.toggleStop(command.n)) : runCommand(lab, command);
          void running.then(
            (result) => {
              ui.message = result.message;
              dirty = true;
            },
            (error: unknown) => {
              ui.message = `error: ${(error as Error).message}`;
              dirty = true;
            },
          );
          break;
        }
      }
      dirty = true;
      redrawIfNeeded();
    };
    if (input.isTTY) input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });

  const onSignal = () => void quit();
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  try {
    await finished;
  } finally {
    clearInterval(timer);
    out.off('resize', onResize);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    input.pause();
    restore();
    process.off('exit', restore);
  }
}

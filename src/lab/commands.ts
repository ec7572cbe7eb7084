// One place that turns a command (from a key or a script word) into a
// controller call, so the keys and --script do exactly the same thing.
import type { CommandResult, LabController } from './controller.js';
import type { ScriptCommand } from './script.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Run one command. 'quit' is not run here: the caller owns the ending. */
export async function runCommand(lab: LabController, command: ScriptCommand): Promise<CommandResult> {
  switch (command.op) {
    case 'kill':
      return lab.kill(command.n);
    case 'park':
      return lab.park(command.n, command.where);
    case 'unpark':
      return lab.unpark(command.n);
    case 'stop':
      return lab.stop(command.n);
    case 'cont':
      return lab.cont(command.n);
    case 'select':
      return { ok: true, message: `selected #${command.n}` };
    case 'add':
      return lab.add(command.kind, command.role);
    case 'respawn':
      return lab.respawn();
    case 'chaos':
      return lab.setChaos(command.on, command.rate);
    case 'rate':
      return lab.setChaos(lab.chaosOn, command.rate);
    case 'chaos-for': {
      const started = lab.setChaos(true, command.rate);
      if (!started.ok) return started;
      await sleep(command.ms);
      const stopped = lab.setChaos(false);
      await lab.settle();
      return stopped;
    }
    case 'chaos-kills': {
      const started = lab.setChaos(true, command.rate);
      if (!started.ok) return started;
      const target = lab.chaosKillCount + command.kills;
      // A safety net, not a schedule: four times the nominal duration plus a minute.
      const deadline = performance.now() + (command.kills / lab.chaosKillRate) * 4000 + 60_000;
      while (lab.chaosKillCount < target && performance.now() < deadline) await sleep(50);
      lab.setChaos(false);
      await lab.settle();
      const done = lab.chaosKillCount - (target - command.kills);
      return { ok: done >= command.kills, message: `${done} chaos kills` };
    }
    case 'wait':
      await sleep(command.ms);
      return { ok: true, message: `waited ${command.ms} ms` };
    case 'ready': {
      const ready = await lab.waitUntilRunning();
      return { ok: ready, message: ready ? 'every participant is making progress' : 'some participants made no progress in 30 s' };
    }
    case 'redelivered': {
      const back = await lab.waitUntilJobsRedelivered();
      return { ok: back, message: back ? 'every job a killed participant held was redelivered' : 'a killed participant\'s job was not reported redelivered in 10 s' };
    }
    case 'quit':
      return { ok: true, message: 'quit' };
  }
}

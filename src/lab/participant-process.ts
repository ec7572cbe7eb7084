// Entry of a child-process participant (compiled JS, forked by the lab): maps the lab's
// region file itself and runs the loop. Killed with SIGKILL; SIGSTOP/SIGCONT
// only pause it. argv: <region path> <config JSON>.
import { openRegion } from '../shm/region.js';
import { dieWithParent } from '../workers/parent-death.js';
import { runParticipant, type ParticipantConfig } from './participant-loop.js';

// First: die with the lab even when it is SIGKILLed and we are stopped or
// parked (PR_SET_PDEATHSIG; the lab put its pid in our environment).
dieWithParent();

// The lab pauses participants with SIGSTOP. When a process group with a
// stopped member becomes orphaned, the kernel sends the whole group SIGHUP
// and SIGCONT (POSIX job control, kill_orphaned_pgrp in kernel/exit.c), and
// a lab started from a script whose shell has gone runs in such a group: a
// 10,000-kill soak lost one paused participant to that SIGHUP. Our life is
// the lab's (it kills us, and PR_SET_PDEATHSIG covers its death), not the
// terminal's, so the hangup is ignored; its SIGCONT only ends the pause early.
process.on('SIGHUP', () => {});
// Likewise Ctrl-C where the terminal is not in raw mode (or a `kill -INT` of
// the group) reaches us too: the lab quits on it and reaps us by asking us
// to leave our loop. Dying of it instead left the ledger mutex abandoned
// mid-transfer, so a quit showed kills and repairs nobody asked for.
process.on('SIGINT', () => {});

const [path, configJson] = process.argv.slice(2);
if (!path || !configJson) {
  process.stderr.write('usage: participant-process.ts <region path> <config JSON>\n');
  process.exit(2);
}
const config = JSON.parse(configJson) as ParticipantConfig;
// The lab went away without reaping us but is itself alive (it closed the
// channel): leave too. A dead lab is dieWithParent()'s case.
process.on('disconnect', () => process.exit(0));
const region = await openRegion(path);
const end = await runParticipant(region, config);
process.exit(end === 'exit-requested' ? 0 : 3);

// Entry of a child-process participant (compiled JS, forked by the lab): maps the lab's
// region file itself and runs the loop. Killed with SIGKILL; SIGSTOP/SIGCONT
// only pause it. argv: <region path> <config JSON>.
import { openRegion } from '../shm/region.js';
import { dieWithParent } from '../workers/parent-death.js';
import { runParticipant, type ParticipantConfig } from './participant-loop.js';

// First: die with the lab even when it is SIGKILLed and we are stopped or
// parked (PR_SET_PDEATHSIG; the lab put its pid in our environment).
dieWithParent();

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

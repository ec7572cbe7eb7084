// Entry of a child-process participant (compiled JS, forked by the lab): maps the lab's
// region file itself and runs the loop. Killed with SIGKILL; SIGSTOP/SIGCONT
// only pause it. argv: <region path> <config JSON>.
import { openRegion } from '../shm/region.js';
import { runParticipant, type ParticipantConfig } from './participant-loop.js';

const [path, configJson] = process.argv.slice(2);
if (!path || !configJson) {
  process.stderr.write('usage: participant-process.ts <region path> <config JSON>\n');
  process.exit(2);
}
const config = JSON.parse(configJson) as ParticipantConfig;
// The lab went away without reaping us (it crashed or was killed): leave too.
// (A participant parked or stopped at that moment cannot run this; the lab's
// own quit never leaves one behind.)
process.on('disconnect', () => process.exit(0));
const region = await openRegion(path);
const end = await runParticipant(region, config);
process.exit(end === 'exit-requested' ? 0 : 3);

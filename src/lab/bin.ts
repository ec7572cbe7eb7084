#!/usr/bin/env node
// `robust-shm-lab` (the package's bin; compiled to dist/lab/bin.js): the lock
// lab from an installed package. Same keys and --script/--json as `npm start`
// in a checkout; its tour (no terminal) is the scripted lab alone, since the
// repo's demos are not in the package.
import { runLabCommand } from './cli.js';

await runLabCommand({ usage: 'npx robust-shm-lab' });

// Every demo's command-line shape is the lab's (the lab is a demo that ships as
// the package's `robust-shm-lab` bin): one implementation, in src/lab, with
// the checks of path options that every demo and the lab make before any work.
export { startDemo, intOption, usageError, dirOption, fileOption, regionOption, type Demo, type DemoSpec } from '../../src/lab/command-line.js';

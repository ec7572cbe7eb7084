// Every demo's command-line shape is the lab's (the lab is a demo that ships as
// the package's `robust-shm-lab` bin): one implementation, in src/lab.
export { startDemo, intOption, type Demo, type DemoSpec } from '../../src/lab/command-line.js';

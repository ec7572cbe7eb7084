// Preloaded into every Fleet child (`--import`), before its entry module
// runs: ties the child to the parent that forked it (see parent-death.ts).
import { dieWithParent } from './parent-death.js';

dieWithParent();

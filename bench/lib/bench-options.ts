// The options of the benches `npm run bench` (bench/run.ts) runs, in one place:
// each bench parses its command line with its own set (benchCli), and run.ts
// hands every bench only the options of its set. Each bench's --help says
// what they mean.

export const MUTEX_OPTIONS = {
  uncontended: { type: 'string' },
  contended: { type: 'string' },
  rounds: { type: 'string' },
  'no-baselines': { type: 'boolean' },
  'no-async': { type: 'boolean' },
  'thread-owner': { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
} as const;

export const CONTENDED_OPTIONS = {
  only: { type: 'string' },
  rounds: { type: 'string' },
  ops: { type: 'string' },
  spin: { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
} as const;

export const HEAP_OPTIONS = {
  pairs: { type: 'string' },
  warmup: { type: 'string' },
  slices: { type: 'string' },
  'thread-cache': { type: 'string' },
  'skip-boost': { type: 'boolean' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
} as const;

export const RWLOCK_OPTIONS = {
  uncontended: { type: 'string' },
  'duration-ms': { type: 'string' },
  runs: { type: 'string' },
  rounds: { type: 'string' },
  'no-baselines': { type: 'boolean' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
} as const;

/** The benches of `npm run bench`, in the order it runs them, with their options. */
export const RUN_BENCHES = {
  mutex: MUTEX_OPTIONS,
  contended: CONTENDED_OPTIONS,
  heap: HEAP_OPTIONS,
  rwlock: RWLOCK_OPTIONS,
} as const;

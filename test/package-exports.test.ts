// The export list of every entry point, pinned. A name added to or removed from
// an entry point fails this test until the list below says so: add the new
// name to its entry's list (kept sorted; the failure message prints the whole
// list as it now is). Values and types are both pinned (through the
// TypeScript checker); the values are also checked at run time on dist/.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const root = new URL('..', import.meta.url);

/** Entry point -> its exported names, sorted. Update here when an export is added on purpose. */
const PINNED: Record<string, string[]> = {
  'robust-shm': [
    'AcquireResult',
    'AsyncWaitMechanism',
    'DEFAULT_THREAD_CACHE',
    'DeadConsumer',
    'DeadLetter',
    'DeathDetection',
    'DeathDetectionReport',
    'EnqueueOptions',
    'HeapCorruptionError',
    'HeapEntry',
    'HeapError',
    'HeapFlags',
    'HeapFormatError',
    'HeapNotEnoughMemoryError',
    'HeapRecoveryReport',
    'HeapStats',
    'HeapValidation',
    'InitializeOptions',
    'InvalidArgumentError',
    'InvalidHeapParameterError',
    'Job',
    'JobNotHeldError',
    'JobTooLargeError',
    'LeaseExpiredError',
    'Liveness',
    'LockTimeoutError',
    'LockUpgradeError',
    'MAX_MAPPING_SIZE',
    'MIN_REGION_SIZE',
    'MapFileOptions',
    'MapMode',
    'MappedFile',
    'MutexLayoutError',
    'MutexOptions',
    'MutexPolicyMismatchError',
    'MutexSnapshot',
    'MutexState',
    'NamedObject',
    'NamedObjectHost',
    'NativeUnavailableError',
    'NotInconsistentError',
    'NotOwned',
    'NotOwnerError',
    'NotRecoverableError',
    'OpenRegionOptions',
    'Owned',
    'OwnerIdentity',
    'PossibleDeadlockError',
    'QueueFullError',
    'QueueMismatchError',
    'QueueOptions',
    'QueueSnapshot',
    'REGION_HEADER_BYTES',
    'RecoveryPolicy',
    'Region',
    'RegionCorruptError',
    'RegionFileError',
    'RegionFormatError',
    'RegionFullError',
    'RegionNoSpaceError',
    'RegionValidation',
    'RobustMutex',
    'RobustQueue',
    'RobustRwLock',
    'RobustSemaphore',
    'RobustShmError',
    'RwAcquireResult',
    'RwLockHolder',
    'RwLockInitializeOptions',
    'RwLockLayoutError',
    'RwLockOptions',
    'RwLockSnapshot',
    'RwOwned',
    'SemaphoreInitializeOptions',
    'SemaphoreLayoutError',
    'SemaphoreOptions',
    'SemaphoreResult',
    'SemaphoreSnapshot',
    'SharedHeap',
    'SharedHeapOptions',
    'TakeOptions',
    'TakenJob',
    'TypedArrayConstructor',
    'UnitAcquired',
    'currentThreadIdentity',
    'deathDetection',
    'mapFile',
    'openRegion',
    'ownerIsAlive',
    'ownerLiveness',
  ],
  'robust-shm/inspect': [
    'PageFlags',
    'PageReport',
    'PagemapEntry',
    'SmapsTotals',
    'clearSoftDirty',
    'fileBytes',
    'inspectPage',
    'isResident',
    'pageFlags',
    'pagemapEntry',
    'smapsFor',
    'softDirtySupported',
  ],
  'robust-shm/testing': [
    'CriticalSectionPool',
    'CriticalSectionPoolOptions',
    'ExitStatus',
    'Fleet',
    'FleetMember',
    'FleetOptions',
    'FleetStartError',
    'ParkState',
    'Parked',
    'ParkingLot',
    'ParkingLotLayoutError',
    'ParkTimeoutError',
    'ParticipantMemory',
    'ParticipantSide',
    'forkReady',
    'isAbortError',
    'participantSide',
  ],
};

const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
};

/** package.json's export subpath -> its entry (types and default), without ./package.json. */
function entryPoints(): Map<string, { types: string; default: string }> {
  const out = new Map<string, { types: string; default: string }>();
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (subpath === './package.json') continue;
    if (typeof target === 'string') throw new Error(`${subpath}: expected { types, default }`);
    out.set(subpath === '.' ? 'robust-shm' : `robust-shm/${subpath.slice(2)}`, target);
  }
  return out;
}

/** The TypeScript source an export target is compiled from: dist/x/index.js -> src/x/index.ts. */
function sourceOf(target: string): string {
  return fileURLToPath(new URL(target.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'), root));
}

function exportedNames(files: string[]): Map<string, { values: string[]; all: string[] }> {
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, skipLibCheck: true, types: ['node'] });
  const checker = program.getTypeChecker();
  const out = new Map<string, { values: string[]; all: string[] }>();
  for (const file of files) {
    const source = program.getSourceFile(file)!;
    const symbol = checker.getSymbolAtLocation(source)!;
    const exports = checker.getExportsOfModule(symbol);
    const values = exports.filter((s) => {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      return (target.flags & ts.SymbolFlags.Value) !== 0;
    });
    out.set(file, { values: values.map((s) => s.name).sort(), all: exports.map((s) => s.name).sort() });
  }
  return out;
}

describe('package entry points', () => {
  const entries = entryPoints();
  let checked: Map<string, { values: string[]; all: string[] }> | undefined;
  /** One TypeScript program over every entry (a few seconds), shared by the tests. */
  const names = () => (checked ??= exportedNames([...entries.values()].map((t) => sourceOf(t.default))));

  it('package.json exports exactly the pinned entry points, each with types and default', () => {
    expect([...entries.keys()].sort()).toEqual(Object.keys(PINNED).sort());
    for (const [name, target] of entries) {
      expect(target.types, name).toMatch(/^\.\/dist\/.*\.d\.ts$/);
      expect(target.default, name).toMatch(/^\.\/dist\/.*\.js$/);
      expect(target.types.replace(/\.d\.ts$/, ''), name).toBe(target.default.replace(/\.js$/, ''));
    }
  });

  it('every entry point exports exactly its pinned names (values and types)', () => {
    for (const [name, target] of entries) {
      const actual = names().get(sourceOf(target.default))!.all;
      const expected = [...PINNED[name]!].sort();
      // On failure, the message is the list to paste into PINNED.
      expect(actual, `${name} now exports:\n${JSON.stringify(actual, null, 2)}`).toEqual(expected);
    }
  });

  it('at run time (dist/, plain import) every entry point has exactly its pinned values', async () => {
    for (const [name, target] of entries) {
      const mod = (await import(new URL(target.default, root).href)) as Record<string, unknown>;
      expect(Object.keys(mod).sort(), name).toEqual(names().get(sourceOf(target.default))!.values);
    }
  });
});

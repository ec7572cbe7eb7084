// The loader refuses a binary built from older sources: node-gyp-build takes
// an existing build/Release before the prebuilt binary, and a checkout's
// `npm install` keeps it, so a stale build is what a contributor meets after
// pulling native changes. Without the check, callers that probe the addon
// (parent-death signal, kernel waits) quietly fell back to weaker mechanisms.
import { describe, expect, it } from 'vitest';
import { missingNativeFunctions, native } from '../src/native/index.js';

describe('native loader', () => {
  it('the binary this checkout built has every function the TypeScript side calls', () => {
    expect(missingNativeFunctions(native())).toEqual([]);
  });

  it('a binding without a function it needs is named as such', () => {
    const { setParentDeathSignal: _dropped, getppid: _alsoDropped, ...older } = native();
    expect(missingNativeFunctions(older)).toEqual(['setParentDeathSignal', 'getppid']);
    expect(missingNativeFunctions(undefined)).toContain('futexWait');
  });
});

/**
 * `robust-shm/testing`: what your own integration tests need to put a
 * participant (thread or process) inside a critical section and kill it
 * there: a parking lot in shared memory, a fleet of child processes with a
 * ready handshake and reaping, a piscina pool whose tasks can be aborted
 * mid-section, and the participant side of both.
 *
 * @packageDocumentation
 */
// Entry point `robust-shm/testing`: at the workers level of the layer order.
export { ParkingLot, ParkTimeoutError, ParkingLotLayoutError, type Parked, type ParkState } from '../workers/park.js';
export { Fleet, forkReady, FleetStartError, type FleetMember, type FleetOptions, type ExitStatus } from '../workers/fleet.js';
export { CriticalSectionPool, isAbortError, type CriticalSectionPoolOptions } from '../workers/pool.js';
export { participantSide, type ParticipantSide, type ParticipantMemory } from '../workers/participant-side.js';

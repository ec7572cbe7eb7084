// What a JS fast path may leave to the hardware's memory order.
//
// V8 never inlines Atomics.*: each call is a builtin at 7-10 ns, while a plain
// typed-array load is under 1 ns (DESIGN.md, "third round"). A Dekker pair
// ("store my flag, then load yours") needs the store ordered before the load.
// The store is an Atomics read-modify-write (exchange / compareExchange), and
// on x86 that is a `lock`-prefixed instruction, which the hardware never
// reorders with a later load (Intel SDM vol. 3A, 9.2.2: "locked instructions
// have a total order" and "loads are not reordered with locked instructions").
// V8 keeps the later plain load after the Atomics builtin call: the call is on
// the effect chain and clobbers every known memory value. So on x86 the load
// half of the pair may be a plain load. On arm64 the exchange is an
// ldaxr/stlxr loop (or swpal) and a plain ldr after it may be satisfied before
// the store is visible: there the load must stay an Atomics.load.

/**
 * True where an Atomics read-modify-write orders every later plain load after
 * it (x86). Fast paths then read the other side of a Dekker pair with a plain
 * typed-array load instead of a second atomic.
 */
export const RMW_ORDERS_LATER_LOADS: boolean = process.arch === 'x64' || process.arch === 'ia32';

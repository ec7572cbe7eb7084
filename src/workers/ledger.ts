// A shared ledger: accounts whose balances always sum to the same total,
// changed only by transfers inside a robust mutex's critical section. A
// transfer debits one account, then credits the other; an owner killed in
// between leaves money missing, which the next owner (told "abandoned")
// repairs from the in-flight record before marking the mutex consistent.
//
// Layout (Int32 words at byteOffset): [0] account count, [1] total,
// [2] in-flight flag (1 between debit and credit), [3] from, [4] to, [5] amount,
// [6] transfers done, [7] repairs done, [8..] balances.
import { InvalidArgumentError } from '../errors.js';
import { RobustMutex } from '../locks/robust-mutex.js';
import type { ParkingLot } from './park.js';

const COUNT = 0;
const TOTAL = 1;
const IN_FLIGHT = 2;
const FROM = 3;
const TO = 4;
const AMOUNT = 5;
const DONE = 6;
const REPAIRS = 7;
const BALANCES = 8;

export interface TransferOutcome {
  status: 'acquired' | 'abandoned' | 'timeout' | 'busy' | 'not-recoverable';
  /** The previous owner died mid-transfer and this call rolled its debit back. */
  repaired: boolean;
  /** The transfer was made (false when the mutex was not owned). */
  done: boolean;
}

export class Ledger {
  static BYTES(accounts: number): number {
    return (BALANCES + accounts) * 4;
  }

  private readonly words: Int32Array;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, readonly mutex: RobustMutex) {
    const count = new Int32Array(buffer, byteOffset, 1)[0] ?? 0;
    this.words = new Int32Array(buffer, byteOffset, BALANCES + count);
  }

  /** Write `accounts` accounts of `balance` each at byteOffset. */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, mutex: RobustMutex, accounts: number, balance: number): Ledger {
    if (!Number.isInteger(accounts) || accounts < 2) throw new InvalidArgumentError('a ledger needs at least 2 accounts');
    const words = new Int32Array(buffer, byteOffset, BALANCES + accounts);
    words.fill(0);
    for (let i = 0; i < accounts; i++) words[BALANCES + i] = balance;
    words[TOTAL] = accounts * balance;
    Atomics.store(words, COUNT, accounts);
    return new Ledger(buffer, byteOffset, mutex);
  }

  static at(buffer: SharedArrayBuffer, byteOffset: number, mutex: RobustMutex): Ledger {
    return new Ledger(buffer, byteOffset, mutex);
  }

  get accounts(): number {
    return this.words[COUNT] ?? 0;
  }

  balances(): number[] {
    return Array.from(this.words.subarray(BALANCES));
  }

  /** Sum of balances equals the total and no transfer is half done. */
  invariantHolds(): boolean {
    const sum = this.balances().reduce((a, b) => a + b, 0);
    return sum === this.words[TOTAL] && Atomics.load(this.words, IN_FLIGHT) === 0;
  }

  get transfers(): number {
    return Atomics.load(this.words, DONE);
  }

  get repairs(): number {
    return Atomics.load(this.words, REPAIRS);
  }

  /**
   * Move `amount` from one account to another under the mutex. With `park`,
   * the owner parks between debit and credit (where a test or demo kills it).
   */
  transfer(from: number, to: number, amount: number, options: { timeoutMs?: number; park?: { lot: ParkingLot; slot: number } } = {}): TransferOutcome {
    this.checkAccount(from);
    this.checkAccount(to);
    const result = this.mutex.acquire(options.timeoutMs ?? Infinity);
    if (!result.owned) return { status: result.status, repaired: false, done: false };
    let repaired = false;
    try {
      if (result.abandoned) {
        repaired = this.repair();
        this.mutex.markConsistent();
      }
      const w = this.words;
      w[FROM] = from;
      w[TO] = to;
      w[AMOUNT] = amount;
      Atomics.store(w, IN_FLIGHT, 1);
      w[BALANCES + from] = (w[BALANCES + from] ?? 0) - amount;
      options.park?.lot.parkIfRequested(options.park.slot);
      w[BALANCES + to] = (w[BALANCES + to] ?? 0) + amount;
      Atomics.store(w, IN_FLIGHT, 0);
      Atomics.add(w, DONE, 1);
    } finally {
      this.mutex.release();
    }
    return { status: result.status, repaired, done: true };
  }

  /** Roll back a transfer whose owner died between debit and credit. Call only as the (abandoned) owner. */
  private repair(): boolean {
    const w = this.words;
    if (Atomics.load(w, IN_FLIGHT) !== 1) return false;
    const from = w[FROM] ?? 0;
    w[BALANCES + from] = (w[BALANCES + from] ?? 0) + (w[AMOUNT] ?? 0);
    Atomics.store(w, IN_FLIGHT, 0);
    Atomics.add(w, REPAIRS, 1);
    return true;
  }

  private checkAccount(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= this.accounts) throw new InvalidArgumentError(`account must be 0..${this.accounts - 1}, got ${String(n)}`);
  }
}

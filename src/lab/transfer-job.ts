// A lab transfer job as it travels through the lab's RobustQueue: from, to
// and amount as "from>to:amount" (a few bytes; the queue copies it in and out).
import { InvalidArgumentError } from '../errors.js';

/** What a transfer job asks for: move `amount` from account `from` to account `to`. */
export interface TransferJob {
  from: number;
  to: number;
  amount: number;
}

/** The job's payload text. */
export function encodeTransferJob(job: TransferJob): string {
  return `${job.from}>${job.to}:${job.amount}`;
}

/** Read a payload written by encodeTransferJob; a malformed one is an InvalidArgumentError. */
export function decodeTransferJob(text: string): TransferJob {
  const m = /^(\d+)>(\d+):(\d+)$/.exec(text);
  if (!m) throw new InvalidArgumentError(`not a transfer job: ${JSON.stringify(text.slice(0, 40))}`);
  return { from: Number(m[1]), to: Number(m[2]), amount: Number(m[3]) };
}

// The page's timeline: the lab's events as entries, each recovery tied to the
// kill that caused it and given its latency from that kill. An "abandoned"
// hand-over is found by the dead owner's tid (the kill event carries the tid
// it killed); the repair that follows in the same new owner merges into that
// entry ("abandoned → repaired"); a reclaimed read share and a heap recovery
// go to the latest kill that left one behind; a transfer job redelivered is
// found by its dead consumer's tid, like an abandonment, and timed from the
// kill to the take that got the job back (it is not counted as the death's
// detection: the abandonment stays that, so the histogram keeps measuring the
// mutex). Event kinds this module does not
// know (another part of the lab may add some) become plain entries with their
// text, so nothing the lab says is lost on the page.
import type { LabEvent } from '../lab-types.js';

export interface TimelineEntry {
  /** Stable id: an update to an entry (a repair merging in) is sent again with the same id. */
  id: number;
  /** ms since the lab started, when the lab reported it. */
  t: number;
  /** The lab's event kind, as is. */
  kind: string;
  /** What the page shows as the entry's headline, e.g. 'killed', 'abandoned → repaired'. */
  label: string;
  participant: number | null;
  text: string;
  /** The kill this entry follows from, by participant number and time. */
  cause: { participant: number | null; t: number } | null;
  /** From that kill to this entry (ms); null when it follows no kill. */
  latencyMs: number | null;
  /** From that kill to the repair merged into this entry (ms). */
  repairLatencyMs: number | null;
  /** The first sign of that death: counts in the detection-latency histogram. */
  detection: boolean;
}

interface Kill {
  participant: number | null;
  t: number;
  tid: number;
  parkedAt: unknown;
  heldReadShare: boolean;
  role: unknown;
  detected: boolean;
  heapRecovered: boolean;
}

const KEEP_KILLS = 64;
const KEEP_ENTRIES = 400;

/** Turns lab events into timeline entries (new, or updated by id). */
export class LabTimeline {
  private readonly entries: TimelineEntry[] = [];
  private readonly kills: Kill[] = [];
  /** The latest "abandoned" entry of each new owner, still waiting for its repair. */
  private readonly openAbandoned = new Map<number, TimelineEntry>();
  private nextId = 1;

  /** The last entries, oldest first (for a page that just connected). */
  recent(): TimelineEntry[] {
    return this.entries.slice();
  }

  /** Take one event; returns the entry it created or updated. */
  add(e: LabEvent): TimelineEntry {
    const participant = typeof e.participant === 'number' ? e.participant : null;
    const at = typeof e['sawAtMs'] === 'number' ? (e['sawAtMs'] as number) : e.t;
    switch (e.kind) {
      case 'killed': {
        this.kills.push({
          participant,
          t: typeof e['issuedAtMs'] === 'number' ? (e['issuedAtMs'] as number) : e.t,
          tid: typeof e['tid'] === 'number' ? (e['tid'] as number) : 0,
          parkedAt: e['parkedAt'],
          heldReadShare: e['heldReadShare'] === true,
          role: e['role'],
          detected: false,
          heapRecovered: false,
        });
        if (this.kills.length > KEEP_KILLS) this.kills.shift();
        return this.push(e, 'killed', participant, null, at);
      }
      case 'abandoned': {
        const kill = this.latest((k) => k.tid !== 0 && k.tid === e['prevTid']);
        const entry = this.push(e, 'abandoned', participant, kill, at);
        if (participant !== null) this.openAbandoned.set(participant, entry);
        return entry;
      }
      case 'repaired': {
        const open = participant === null ? undefined : this.openAbandoned.get(participant);
        if (open) {
          this.openAbandoned.delete(participant!);
          open.label = 'abandoned → repaired';
          open.text = `${open.text}; ${e.text}`;
          if (open.cause) open.repairLatencyMs = round(at - open.cause.t);
          return open;
        }
        return this.push(e, 'repaired', participant, null, at);
      }
      case 'job-redelivered': {
        const kill = this.latest((k) => k.tid !== 0 && k.tid === e['prevTid']);
        return this.push(e, 'job redelivered', participant, kill, at, false);
      }
      case 'share-reclaimed': {
        const kill = this.latest((k) => !k.detected && (k.heldReadShare || k.role === 'auditor'));
        return this.push(e, 'share reclaimed', participant, kill, at);
      }
      case 'heap-recovered': {
        const kill = this.latest((k) => !k.heapRecovered && k.parkedAt === 'heap');
        if (kill) kill.heapRecovered = true;
        return this.push(e, 'heap recovered', participant, kill, at);
      }
      default:
        return this.push(e, e.kind.replaceAll('-', ' '), participant, null, at);
    }
  }

  private latest(test: (k: Kill) => boolean): Kill | undefined {
    for (let i = this.kills.length - 1; i >= 0; i--) if (test(this.kills[i]!)) return this.kills[i];
    return undefined;
  }

  private push(e: LabEvent, label: string, participant: number | null, kill: Kill | undefined | null, at: number, detects = true): TimelineEntry {
    const entry: TimelineEntry = {
      id: this.nextId++,
      t: e.t,
      kind: e.kind,
      label,
      participant,
      text: e.text,
      cause: kill ? { participant: kill.participant, t: kill.t } : null,
      latencyMs: kill ? round(at - kill.t) : null,
      repairLatencyMs: null,
      detection: kill && detects ? !kill.detected : false,
    };
    if (kill && detects) kill.detected = true;
    this.entries.push(entry);
    if (this.entries.length > KEEP_ENTRIES) this.entries.splice(0, this.entries.length - KEEP_ENTRIES);
    return entry;
  }
}

/** Latencies to 0.1 ms, never negative (the kill's time is taken just before the signal goes out). */
function round(ms: number): number {
  return Math.max(0, Math.round(ms * 10) / 10);
}

// Progress of long work on stderr: a redrawn bar with rate and ETA when
// stderr is a terminal, a plain line every 10 % (or every 15 s) otherwise,
// so that logs and CI output stay readable.
export class ProgressReporter {
  private readonly tty = process.stderr.isTTY === true;
  private lastLineAt = -Infinity;
  private lastDecile = -1;

  constructor(
    private readonly label: string,
    private readonly unit: string,
  ) {}

  update(done: number, total: number, elapsedMs: number): void {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
    const eta = rate > 0 ? Math.max(0, (total - done) / rate) : NaN;
    const figures = `${done}/${total} ${this.unit}  ${(fraction * 100).toFixed(1)}%  ${rate.toFixed(1)} ${this.unit}/s  ETA ${clock(eta)}`;
    if (this.tty) {
      const width = Math.max(10, Math.min(40, (process.stderr.columns ?? 80) - figures.length - this.label.length - 6));
      const filled = Math.round(fraction * width);
      process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${figures}\x1b[K`);
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile > this.lastDecile || elapsedMs - this.lastLineAt >= 15_000) {
      this.lastDecile = decile;
      this.lastLineAt = elapsedMs;
      process.stderr.write(`${this.label}: ${figures}\n`);
    }
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${rest}s` : `${m}m${rest}s`;
}

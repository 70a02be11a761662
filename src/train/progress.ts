/**
 * The training progress display on stderr: step, loss, N(k), images per second and ETA.
 * On a terminal one line is redrawn in place (at most every `redrawMs`); elsewhere (a log file,
 * a pipe) a plain line is printed per tick, so logs stay readable.
 */
import { formatDuration } from '../util/format-duration.js';

/** Where the progress goes: process.stderr, or anything with write() (tests). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** What one update shows. */
export interface ProgressInfo {
  /** Optimizer steps completed. */
  step: number;
  /** The training loss of the latest step (or its recent mean). */
  loss: number;
  /** N(k), the number of discretization levels at this step. */
  levels: number;
}

export interface ProgressOptions {
  /** The step the run ends at (K). */
  totalSteps: number;
  /** The step the run (re)started from; rates count from here. */
  startStep: number;
  /** Images per optimizer step (the batch size). */
  imagesPerStep: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Non-terminal output: print one line every this many steps (default 100). */
  lineEvery?: number;
  /** Terminal output: redraw at most this often (default 200 ms). */
  redrawMs?: number;
  /** Clock in milliseconds (tests inject one). Default performance.now. */
  now?: () => number;
}

// formatDuration is shared with evaluation's progress line; re-exported for the training API.
export { formatDuration };

/** A loss with 4 significant digits, in exponent form when small or large. */
export function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss);
  const a = Math.abs(loss);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? loss.toExponential(3) : loss.toPrecision(4);
}

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly lineEvery: number;
  private readonly redrawMs: number;
  private readonly startTime: number;
  private lastDraw = -Infinity;
  private drawn = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? (() => performance.now());
    this.lineEvery = Math.max(1, opts.lineEvery ?? 100);
    this.redrawMs = opts.redrawMs ?? 200;
    this.startTime = this.now();
  }

  /** Images per second since the (re)start. */
  imagesPerSecond(step: number): number {
    const seconds = (this.now() - this.startTime) / 1000;
    const steps = step - this.opts.startStep;
    return seconds > 0 && steps > 0 ? (steps * this.opts.imagesPerStep) / seconds : 0;
  }

  /** Seconds left at the rate so far. */
  etaSeconds(step: number): number {
    const rate = this.imagesPerSecond(step) / this.opts.imagesPerStep;
    return rate > 0 ? (this.opts.totalSteps - step) / rate : Number.NaN;
  }

  /** The status text for a step. */
  format(info: ProgressInfo, width?: number): string {
    const { totalSteps } = this.opts;
    const frac = totalSteps > 0 ? Math.min(1, info.step / totalSteps) : 1;
    const pct = `${Math.floor(frac * 100)}%`.padStart(4);
    const digits = String(totalSteps).length;
    const stats =
      `step ${String(info.step).padStart(digits)}/${totalSteps} ${pct} | loss ${formatLoss(info.loss)} | N ${info.levels}` +
      ` | ${this.imagesPerSecond(info.step).toFixed(1)} img/s | ETA ${formatDuration(this.etaSeconds(info.step))}`;
    if (width === undefined) return stats;
    const barWidth = Math.min(30, width - stats.length - 3);
    if (barWidth < 5) return stats.slice(0, Math.max(0, width - 1));
    const filled = Math.round(frac * barWidth);
    return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${stats}`;
  }

  /** Called after every step: redraws on a terminal; prints a line every `lineEvery` steps otherwise. */
  update(info: ProgressInfo, force = false): void {
    if (this.stream.isTTY) {
      const t = this.now();
      if (!force && t - this.lastDraw < this.redrawMs && info.step < this.opts.totalSteps) return;
      this.lastDraw = t;
      const width = this.stream.columns ?? 100;
      this.stream.write(`\r\x1b[2K${this.format(info, width)}`);
      this.drawn = true;
    } else if (force || info.step % this.lineEvery === 0 || info.step === this.opts.totalSteps) {
      this.stream.write(`${this.format(info)}\n`);
    }
  }

  /** Prints a message on its own line without garbling the bar. */
  message(text: string): void {
    if (this.stream.isTTY && this.drawn) {
      this.stream.write(`\r\x1b[2K${text}\n`);
      this.lastDraw = -Infinity;
    } else {
      this.stream.write(`${text}\n`);
    }
  }

  /** Ends the bar's line on a terminal. */
  finish(): void {
    if (this.stream.isTTY && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

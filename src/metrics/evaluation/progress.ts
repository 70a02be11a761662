/**
 * A progress line on stderr for long feature extractions: rewritten in place on a terminal
 * (images done, rate, time left), one line at most every 15 s otherwise (logs stay short).
 */
import { formatDuration } from '../../util/format-duration.js';

export interface Progress {
  /** Adds `n` finished items. */
  advance(n: number): void;
  /** Ends the line (prints the final count). */
  done(): void;
}

export function createProgress(label: string, total: number | undefined, stream: NodeJS.WriteStream = process.stderr): Progress {
  const start = performance.now();
  let count = 0;
  let lastPrint = 0;
  const tty = stream.isTTY;
  const line = (): string => {
    const seconds = (performance.now() - start) / 1000;
    const rate = count / Math.max(seconds, 1e-9);
    const of = total !== undefined ? `/${total}` : '';
    const left = total !== undefined && rate > 0 ? `, ${formatDuration((total - count) / rate)} left` : '';
    return `${label}: ${count}${of} images, ${rate.toFixed(1)} images/s${left}`;
  };
  return {
    advance(n: number) {
      count += n;
      const now = performance.now();
      if (tty) {
        if (now - lastPrint > 200) {
          stream.write(`\r${line()}\x1b[K`);
          lastPrint = now;
        }
      } else if (now - lastPrint > 15_000) {
        stream.write(`${line()}\n`);
        lastPrint = now;
      }
    },
    done() {
      stream.write(tty ? `\r${line()}\x1b[K\n` : `${line()}\n`);
    },
  };
}

/**
 * The run's metrics log: one JSON object per line (JSONL) in `<run>/metrics.jsonl`, appended as
 * training goes. Losses are written with JSON's shortest round-trip form of the float64 value, so
 * two runs can be compared bit for bit. On resume, the records after the checkpoint's step (from
 * steps that ran after the last save before a crash) are dropped, so the log reads as one run.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { FileWriteError, writeFileAtomic } from '../io/atomic.js';
import type { JsonValue } from './json.js';

/** One line of the log. `step` is the optimizer step the record belongs to (1-based). */
export interface MetricsRecord {
  step: number;
  [key: string]: JsonValue;
}

/** The log's file name inside a run directory. */
export const METRICS_FILE = 'metrics.jsonl';

/** Parses JSONL text; lines that are not JSON objects with a numeric step are skipped (a torn last line after a crash). */
export function parseMetrics(text: string): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { step?: unknown }).step === 'number')
        out.push(v as MetricsRecord);
    } catch {
      /* a line cut short by a crash */
    }
  }
  return out;
}

/** Reads a metrics log; a missing file reads as empty. */
export function readMetrics(path: string): MetricsRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return parseMetrics(text);
}

export class MetricsLog {
  /** The records so far (kept for the loss-curve plot). */
  readonly records: MetricsRecord[];

  private constructor(
    readonly path: string,
    records: MetricsRecord[],
  ) {
    this.records = records;
  }

  /** Starts a new log (replacing any file at `path`). */
  static create(path: string): MetricsLog {
    writeFileAtomic(path, new Uint8Array(0), 'metrics log');
    return new MetricsLog(path, []);
  }

  /** Continues a log after a resume from `step`: records of later steps are removed (atomically). */
  static resume(path: string, step: number): MetricsLog {
    const kept = readMetrics(path).filter((r) => r.step <= step);
    writeFileAtomic(path, new TextEncoder().encode(kept.map((r) => `${JSON.stringify(r)}\n`).join('')), 'metrics log');
    return new MetricsLog(path, kept);
  }

  /** Appends one record (written through at once, so a crash loses at most the line being written). */
  append(record: MetricsRecord): void {
    try {
      appendFileSync(this.path, `${JSON.stringify(record)}\n`);
    } catch (e) {
      // Disk full or read-only: a line cut short is skipped when the log is read back.
      throw FileWriteError.from(this.path, e, 'metrics log');
    }
    this.records.push(record);
  }

  /** The (step, value) pairs of a numeric field, for plotting. */
  series(field: string): { x: number[]; y: number[] } {
    const x: number[] = [];
    const y: number[] = [];
    for (const r of this.records) {
      const v = r[field];
      if (typeof v === 'number' && Number.isFinite(v)) {
        x.push(r.step);
        y.push(v);
      }
    }
    return { x, y };
  }
}

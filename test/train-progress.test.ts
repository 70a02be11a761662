/** The progress bar (rates, ETA, terminal vs plain output) and the JSONL metrics log (resume truncation). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProgressBar, formatDuration, formatLoss } from '../src/train/progress.js';
import { MetricsLog, parseMetrics, readMetrics } from '../src/train/metrics-log.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 120, write: (s: string) => writes.push(s) } };
}

test('durations and losses are formatted for people', () => {
  assert.equal(formatDuration(5), '5s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(2 * 3600 + 7 * 60 + 20), '2h07m');
  assert.equal(formatDuration(3 * 86400 + 4 * 3600), '3d04h');
  assert.equal(formatDuration(Number.NaN), '?');
  assert.equal(formatLoss(0.031234), '0.03123');
  assert.equal(formatLoss(0.0000123), '1.230e-5');
  assert.equal(formatLoss(Number.NaN), 'NaN');
});

test('plain output: one line per tick with step, loss, N, images/s from the clock, and ETA', () => {
  let now = 0;
  const { writes, stream } = fakeStream(false);
  const bar = new ProgressBar({ totalSteps: 1000, startStep: 100, imagesPerStep: 32, stream, lineEvery: 50, now: () => now });
  for (let step = 101; step <= 200; step++) {
    now += 250; // 4 steps per second = 128 images per second
    bar.update({ step, loss: 0.5, levels: 21 });
  }
  assert.equal(writes.length, 2, 'lines at steps 150 and 200 only');
  assert.ok(writes.every((w) => w.endsWith('\n') && !w.includes('\r')));
  const last = writes[1]!;
  assert.match(last, /step {2}200\/1000/);
  assert.match(last, /20%/);
  assert.match(last, /loss 0\.5000/);
  assert.match(last, /N 21/);
  assert.match(last, /128\.0 img\/s/);
  // 800 steps left at 4 steps/s = 200 s.
  assert.match(last, /ETA 3m20s/);
  bar.update({ step: 201, loss: 0.4, levels: 21 }, true);
  assert.equal(writes.length, 3, 'forced update prints');
});

test('terminal output: one line redrawn in place, throttled, messages on their own lines', () => {
  let now = 0;
  const { writes, stream } = fakeStream(true);
  const bar = new ProgressBar({ totalSteps: 10, startStep: 0, imagesPerStep: 8, stream, redrawMs: 100, now: () => now });
  bar.update({ step: 1, loss: 1, levels: 11 });
  now += 10;
  bar.update({ step: 2, loss: 1, levels: 11 }); // throttled
  now += 200;
  bar.update({ step: 3, loss: 1, levels: 11 });
  assert.equal(writes.length, 2);
  assert.ok(writes.every((w) => w.startsWith('\r\x1b[2K') && !w.endsWith('\n')));
  // The terminal's escape codes are what is checked here.
  // eslint-disable-next-line no-control-regex
  assert.match(writes[1]!, /^\r\x1b\[2K\[#+\.+\] step {2}3\/10/);
  assert.ok(writes[1]!.length - 5 <= 120, 'fits the terminal width');
  bar.message('checkpoint saved');
  assert.equal(writes[2], '\r\x1b[2Kcheckpoint saved\n');
  bar.update({ step: 10, loss: 1, levels: 11 }); // the last step always draws
  bar.finish();
  assert.equal(writes[writes.length - 1], '\n');
});

test('the metrics log appends JSONL, keeps float64 losses exactly, and drops records after the resume step', () => {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-'));
  try {
    const path = join(dir, 'metrics.jsonl');
    const log = MetricsLog.create(path);
    const losses = [0.1 + 0.2, Math.fround(0.3141592), 1e-300, 12345.678901234567];
    losses.forEach((loss, i) => log.append({ step: i + 1, loss }));
    const back = readMetrics(path);
    assert.deepEqual(
      back.map((r) => r.loss),
      losses,
    );
    // A crash left a torn last line; resume from step 2 keeps steps 1-2 only.
    writeFileSync(path, readFileSync(path, 'utf8') + '{"step": 5, "lo');
    assert.equal(parseMetrics(readFileSync(path, 'utf8')).length, 4);
    const resumed = MetricsLog.resume(path, 2);
    assert.deepEqual(
      resumed.records.map((r) => r.step),
      [1, 2],
    );
    resumed.append({ step: 3, loss: 7 });
    assert.deepEqual(
      readMetrics(path).map((r) => [r.step, r.loss]),
      [
        [1, losses[0]],
        [2, losses[1]],
        [3, 7],
      ],
    );
    assert.deepEqual(resumed.series('loss'), { x: [1, 2, 3], y: [losses[0], losses[1], 7] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

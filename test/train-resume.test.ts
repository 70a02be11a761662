/**
 * Stopping and resuming through the command line: a run stopped by SIGINT (exit 130) or SIGTERM
 * (exit 143) saves a checkpoint after the current step; `--resume` continues it, and every later
 * step's loss equals, bit for bit, the loss of a run that never stopped (1 thread, mnist-quick).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetrics } from '../src/train/metrics-log.js';
import { readCheckpointConfig } from '../src/train/checkpoint.js';
import { CLI } from './helpers/cli.js';

const common = [
  '--preset',
  'mnist-quick',
  '--steps',
  '30',
  '--batch',
  '8',
  '--threads',
  '1',
  '--checkpoint-every',
  '7',
  '--sample-every',
  '1000',
  '--samples',
  '4',
  '--dropout',
  '0.1',
];

function train(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, 'train', ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** Starts a run and sends `signal` once its metrics log shows at least `afterSteps` steps. */
async function trainUntilSignal(out: string, signal: NodeJS.Signals, afterSteps: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'train', ...common, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const metrics = join(out, 'metrics.jsonl');
  let sent = false;
  while (!sent) {
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20))]);
    if (done) break;
    if (existsSync(metrics) && readMetrics(metrics).length >= afterSteps) {
      child.kill(signal);
      sent = true;
    }
  }
  return { code: await exited, stderr };
}

test('SIGINT / SIGTERM save a checkpoint after the current step; --resume continues with bit-identical losses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resume-'));
  try {
    const straight = train([...common, '--out', join(dir, 'straight')]);
    assert.equal(straight.status, 0, straight.stderr);
    const reference = readMetrics(join(dir, 'straight', 'metrics.jsonl'));
    assert.deepEqual(
      reference.map((r) => r.step),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );

    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const out = join(dir, signal);
      const stopped = await trainUntilSignal(out, signal, signal === 'SIGINT' ? 5 : 12);
      assert.equal(stopped.code, code, stopped.stderr);
      const partial = readMetrics(join(out, 'metrics.jsonl'));
      const saved = readCheckpointConfig(out);
      // The checkpoint holds the last step that ran (it finished the step it was in).
      assert.equal(saved.step, partial[partial.length - 1]!.step);
      assert.ok(saved.step < 30, `stopped early (step ${saved.step})`);
      assert.match(stopped.stderr, new RegExp(`${signal}: stopped after step ${saved.step}`));

      const resumed = train([...common, '--out', out, '--resume']);
      assert.equal(resumed.status, 0, resumed.stderr);
      const losses = readMetrics(join(out, 'metrics.jsonl'));
      assert.deepEqual(
        losses.map((r) => r.step),
        reference.map((r) => r.step),
      );
      // Bit for bit: JSON keeps the float64 value of each float32 loss exactly.
      assert.deepEqual(
        losses.map((r) => r.loss),
        reference.map((r) => r.loss),
        `${signal} at step ${saved.step}`,
      );
      // The final checkpoints (weights, EMA, optimizer moments, generator states) are byte-identical.
      assert.ok(
        readFileSync(join(out, 'checkpoint.safetensors')).equals(readFileSync(join(dir, 'straight', 'checkpoint.safetensors'))),
        'final checkpoints identical',
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

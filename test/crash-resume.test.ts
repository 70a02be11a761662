/**
 * Issue 15, "Crashes and long runs": `consistency train` killed with SIGKILL at 20 seeded moments,
 * with a checkpoint after every step (`--checkpoint-every 1`). After every kill the newest
 * checkpoint on disk must load (its SHA-256 checks out) and never be older than the one before;
 * `--resume` continues from it; a kill before the first checkpoint makes `--resume` say there
 * is nothing to continue from. The run finished this way must equal an uninterrupted run with
 * the same flags: every tensor of the final checkpoint (weights, EMA, optimizer state), its
 * generator and loader states, the metrics log (one record per step, the same losses) and the
 * final sample grid, byte for byte.
 *
 * The kill moments, drawn from a seeded generator, are of four kinds: a delay after the process
 * starts (usually while it loads; before the first checkpoint on a fresh run), a delay after it
 * starts training, the moment the n-th checkpoint's temporary file appears (during the write:
 * between open and rename), and a delay after the n-th checkpoint is renamed into place. The
 * smallest preset (mnist-quick) at batch 2 and one thread keeps each step short.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xorshift32 } from './helpers/xorshift.js';
import { readCheckpoint, disposeCheckpoint, CHECKPOINT_FILE, type Checkpoint } from '../src/train/checkpoint.js';
import { readMetrics } from '../src/train/metrics-log.js';
import { setNumThreads } from '../src/tensor/index.js';
import { CLI } from './helpers/cli.js';

setNumThreads(1);

const STEPS = 24;
const KILLS = 20;
const RUN_FLAGS = [
  '--preset',
  'mnist-quick',
  '--batch',
  '2',
  '--threads',
  '1',
  '--steps',
  String(STEPS),
  '--checkpoint-every',
  '1',
  '--sample-every',
  '1000',
  '--samples',
  '4',
  '--log-every',
  '1000',
];
const TEMP_PREFIX = `.${CHECKPOINT_FILE}.tmp-`;

type KillPlan =
  | { kind: 'after-start'; ms: number }
  | { kind: 'after-banner'; ms: number }
  | { kind: 'during-write'; nth: number }
  | { kind: 'after-save'; nth: number; ms: number };

function describePlan(p: KillPlan): string {
  switch (p.kind) {
    case 'after-start':
      return `${p.ms} ms after start`;
    case 'after-banner':
      return `${p.ms} ms after training began`;
    case 'during-write':
      return `when checkpoint write ${p.nth} of this attempt opened its temporary file`;
    case 'after-save':
      return `${p.ms} ms after checkpoint ${p.nth} of this attempt was renamed into place`;
  }
}

/**
 * The 20 kill moments: the first at start-up (so a kill before any checkpoint is always covered),
 * then five of each kind minus one, in a seeded order with seeded parameters.
 */
function killPlans(seed: number): KillPlan[] {
  const next = xorshift32(seed);
  for (let i = 0; i < 8; i++) next(); // xorshift32's first outputs from a small seed are small
  const kinds: KillPlan['kind'][] = [];
  for (const kind of ['after-start', 'after-banner', 'during-write', 'after-save'] as const) for (let i = 0; i < KILLS / 4; i++) kinds.push(kind);
  kinds.splice(0, 1);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  return [
    { kind: 'after-start', ms: 0 },
    ...kinds.map((kind): KillPlan => {
      switch (kind) {
        case 'after-start':
          return { kind, ms: Math.floor(next() * 800) };
        case 'after-banner':
          return { kind, ms: Math.floor(next() * 300) };
        case 'during-write':
          return { kind, nth: 1 + Math.floor(next() * 2) };
        case 'after-save':
          return { kind, nth: 1, ms: Math.floor(next() * 150) };
      }
    }),
  ];
}

interface Attempt {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** A checkpoint temporary file was left in the run directory (the kill landed inside a write). */
  tornWrite: boolean;
}

/** Runs `consistency train` in `out` and kills it with SIGKILL at the planned moment (or lets it finish when plan is null). */
function attempt(out: string, resume: boolean, plan: KillPlan | null): Promise<Attempt> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, 'train', ...RUN_FLAGS, '--out', out, ...(resume ? ['--resume'] : [])], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let killed = false;
    let writes = 0;
    let saves = 0;
    const timers: NodeJS.Timeout[] = [];
    const kill = (): void => {
      if (killed) return;
      killed = true;
      child.kill('SIGKILL');
    };
    const later = (ms: number): void => {
      timers.push(setTimeout(kill, ms));
    };
    const seenTemps = new Set<string>();
    const watcher = watch(out, (_event, name) => {
      if (!plan || killed || typeof name !== 'string') return;
      if (name.startsWith(TEMP_PREFIX) && !seenTemps.has(name)) {
        seenTemps.add(name);
        writes++;
        // Whatever the plan, an attempt is killed at the latest when its second checkpoint write
        // opens: each attempt saves at most one new step, so the 20 kills always land before
        // the run's end (STEPS > KILLS) on a fast machine too.
        if ((plan.kind === 'during-write' && writes === plan.nth) || writes === 2) kill();
      } else if (name === CHECKPOINT_FILE && existsSync(join(out, name))) {
        saves++;
        if (plan.kind === 'after-save' && saves === plan.nth) later(plan.ms);
      }
    });
    child.stderr.setEncoding('utf8');
    let bannerSeen = false;
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      // The banner line ('training ...' / 'resuming ...') comes just before the first step.
      if (!bannerSeen && /^(training|resuming) /m.test(stderr)) {
        bannerSeen = true;
        if (plan?.kind === 'after-banner') later(plan.ms);
      }
    });
    if (plan?.kind === 'after-start') later(plan.ms);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      watcher.close();
      for (const t of timers) clearTimeout(t);
      const tornWrite = readdirSync(out).some((n) => n.startsWith(TEMP_PREFIX));
      resolvePromise({ status, signal, stderr, tornWrite });
    });
  });
}

function assertSameCheckpoint(a: Checkpoint, b: Checkpoint): void {
  assert.equal(a.step, b.step);
  assert.deepEqual(a.config, b.config);
  assert.deepEqual(a.state, b.state, 'loader position, level generator, EMA count and optimizer counters');
  assert.deepEqual([...a.generators.keys()].sort(), [...b.generators.keys()].sort());
  for (const [name, bytes] of a.generators)
    assert.ok(Buffer.from(bytes).equals(Buffer.from(b.generators.get(name)!)), `generator '${name}' state differs`);
  assert.deepEqual([...a.groups.keys()].sort(), [...b.groups.keys()].sort());
  for (const [group, tensors] of a.groups) {
    const other = b.groups.get(group)!;
    assert.deepEqual([...tensors.keys()].sort(), [...other.keys()].sort(), `tensor names of group '${group}'`);
    for (const [name, t] of tensors) {
      const u = other.get(name)!;
      assert.equal(t.dtype, u.dtype, `${group}/${name} dtype`);
      assert.deepEqual(t.shape, u.shape, `${group}/${name} shape`);
      assert.ok(Buffer.from(t.bytes()).equals(Buffer.from(u.bytes())), `${group}/${name} differs from the uninterrupted run`);
    }
  }
}

test(`kill -9 at ${KILLS} seeded moments (during checkpoint writes too): every newest checkpoint loads, --resume continues, the result equals an uninterrupted run`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'crash-resume-'));
  try {
    // The uninterrupted run goes on beside the killed one (it only has to finish before the comparison).
    const reference = join(dir, 'uninterrupted');
    mkdirSync(reference);
    const uninterruptedRun = attempt(reference, false, null);

    const out = join(dir, 'killed');
    mkdirSync(out);
    let resume = false;
    let newestStep = -1;
    const kinds = new Map<string, number>();
    let tornWrites = 0;
    const tornWriteKinds: string[] = [];
    let noCheckpointYet = 0;
    for (const [i, plan] of killPlans(15).entries()) {
      const a = await attempt(out, resume, plan);
      const what: string = `kill ${i + 1} (${describePlan(plan)}, ${resume ? 'resumed' : 'fresh'} run)`;
      assert.equal(a.signal, 'SIGKILL', `${what}: the run ended by itself (exit ${a.status}) before the kill; stderr:\n${a.stderr}`);
      kinds.set(plan.kind, (kinds.get(plan.kind) ?? 0) + 1);
      if (a.tornWrite) {
        tornWrites++;
        tornWriteKinds.push(plan.kind);
      }
      if (existsSync(join(out, CHECKPOINT_FILE))) {
        let ckpt: Checkpoint;
        try {
          ckpt = readCheckpoint(out, { device: 'cpu' });
        } catch (e) {
          assert.fail(`${what}: the newest checkpoint does not load: ${(e as Error).message}`);
        }
        assert.ok(ckpt.step >= newestStep && ckpt.step >= 1 && ckpt.step <= STEPS, `${what}: checkpoint step ${ckpt.step} after ${newestStep}`);
        newestStep = ckpt.step;
        disposeCheckpoint(ckpt);
        resume = true;
      } else {
        assert.equal(newestStep, -1, `${what}: the checkpoint of step ${newestStep} disappeared`);
        noCheckpointYet++;
        // What a user does next: --resume, which must say there is nothing to continue from (checked
        // the first two times; each check is a process start), then a fresh start in the same directory.
        if (noCheckpointYet > 2) {
          resume = false;
          continue;
        }
        const r = spawnSync(process.execPath, [CLI, 'train', ...RUN_FLAGS, '--out', out, '--resume'], { encoding: 'utf8' });
        assert.equal(r.status, 2, `${what}: --resume without a checkpoint: ${r.stderr}`);
        assert.match(
          r.stderr.trim(),
          /^consistency train: --resume: .* has no checkpoint\.safetensors to continue from \(the run stopped before its first checkpoint, or never started\); start it again without --resume$/,
        );
        resume = false;
      }
    }
    const last = await attempt(out, resume, null);
    assert.equal(last.status, 0, `the final resumed run failed:\n${last.stderr}`);
    const ref = await uninterruptedRun;
    assert.equal(ref.status, 0, `the uninterrupted run failed:\n${ref.stderr}`);
    console.log(
      `# ${KILLS} kills (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}); ${tornWrites} left a half-written temporary checkpoint (${tornWriteKinds.join(', ')}); ` +
        `${noCheckpointYet} came before the first checkpoint; the last killed attempt had reached step ${newestStep} of ${STEPS}`,
    );
    assert.ok(noCheckpointYet >= 1, 'the first kill (at start-up) leaves no checkpoint');
    assert.ok(newestStep < STEPS, 'the final attempt still had steps to run');

    const resumed = readCheckpoint(out, { device: 'cpu' });
    const uninterrupted = readCheckpoint(reference, { device: 'cpu' });
    try {
      assert.equal(resumed.step, STEPS);
      assertSameCheckpoint(resumed, uninterrupted);
    } finally {
      disposeCheckpoint(resumed);
      disposeCheckpoint(uninterrupted);
    }
    const logged = (run: string) => readMetrics(join(run, 'metrics.jsonl')).map((r) => [r.step, r.loss, r.levels, r.lr]);
    const killedLog = logged(out);
    assert.deepEqual(
      killedLog.map((r) => r[0]),
      Array.from({ length: STEPS }, (_, k) => k + 1),
      'one metrics record per step, in order',
    );
    assert.deepEqual(killedLog, logged(reference), 'the same loss at every step');
    const grid = `step-${String(STEPS).padStart(7, '0')}.png`;
    assert.ok(readFileSync(join(out, 'samples', grid)).equals(readFileSync(join(reference, 'samples', grid))), 'the final sample grids differ');
    for (const folder of [out, join(out, 'samples')])
      assert.deepEqual(
        readdirSync(folder).filter((n) => n.includes('.tmp-')),
        [],
        `temporary files of killed writes are cleaned up in ${folder}`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The automatic thread count: times each choice, keeps the faster, follows a change of load. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThreadTuner } from '../src/train/threads.js';

/** Runs `steps` steps with step times from `cost(threads, step)`; returns the thread count of each step. */
function simulate(tuner: ThreadTuner, steps: number, cost: (threads: number, step: number) => number): number[] {
  const used: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t = tuner.next();
    used.push(t);
    tuner.record(t, cost(t, s));
  }
  return used;
}

test('an idle machine keeps all cores; a busy one falls back to 1 thread; a change of load is followed', () => {
  const idle = (t: number) => (t === 2 ? 200 : 350);
  const busy = (t: number) => (t === 2 ? 900 : 355);
  let tuner = new ThreadTuner({ maxThreads: 2, recheckEvery: 50, probeSteps: 3 });
  let used = simulate(tuner, 200, idle);
  assert.deepEqual(used.slice(0, 6), [2, 2, 2, 1, 1, 1], 'times both choices first');
  assert.ok(used.slice(6).filter((t) => t === 2).length >= 180, 'then mostly 2 threads');

  tuner = new ThreadTuner({ maxThreads: 2, recheckEvery: 50, probeSteps: 3 });
  used = simulate(tuner, 200, busy);
  assert.ok(used.slice(6).filter((t) => t === 1).length >= 180, 'busy: mostly 1 thread');

  // Idle for 100 steps, then busy: two slow steps trigger a re-check, and it moves to 1 thread.
  tuner = new ThreadTuner({ maxThreads: 2, recheckEvery: 1000, probeSteps: 3 });
  used = simulate(tuner, 300, (t, s) => (s < 100 ? idle(t) : busy(t)));
  assert.equal(used[99], 2);
  assert.deepEqual(used.slice(102, 105), [1, 1, 1], 're-checks 1 thread right after two slow steps');
  assert.ok(
    used.slice(105).every((t) => t === 1),
    'and keeps it',
  );
  // A one-off slow step (a sample grid, a checkpoint) does not flip the choice: medians of 3.
  tuner = new ThreadTuner({ maxThreads: 2, recheckEvery: 1000, probeSteps: 3 });
  used = simulate(tuner, 20, (t, s) => (s === 1 ? 5000 : idle(t)));
  assert.equal(used[19], 2);
  assert.deepEqual(simulate(new ThreadTuner({ maxThreads: 1 }), 5, idle), [1, 1, 1, 1, 1]);
});

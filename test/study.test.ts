/**
 * bench/study.ts's report (docs/study.md): from result files written here, the table shows each
 * setting's mean and sample standard deviation over its seeds (computed here again by hand), counts
 * the classes present, lists the (setting, seed) pairs still to run, and writes decodable error-bar
 * plots; the runner refuses a changed budget without its own results folder; and every setting's
 * flags, resolved as `consistency train` resolves them, change only the ingredient it names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { peerTaskFlags, STUDY_PRESET, STUDY_SETTINGS, writeReport, type GridScore, type StudyResult } from '../bench/study.js';
import { runPreset } from '../src/train/presets.js';
import { configFlag, resolveRunConfig, type ConfigFlagValues } from '../src/train/config-flags.js';
import { repoRoot } from './helpers/python.js';

function score(confident: number, fd: number, classes: number[], asked?: number): GridScore {
  const g: GridScore = { n: 400, confident, meanMaxProb: confident, classes, fd, real: { n: 400, confident: 0.9575, fd: 13.802 } };
  return asked === undefined ? g : { ...g, asked, confidentAsked: asked - 0.05 };
}

function result(
  setting: string,
  seed: number,
  one: number,
  two: number,
  fd: number,
  seconds: number,
  classes = [40, 40, 40, 40, 40, 40, 40, 40, 40, 40],
  asked?: number,
): StudyResult {
  return {
    setting,
    seed,
    command: `consistency train --preset mnist-quick --seed ${seed}`,
    steps: null,
    trainSeconds: seconds,
    load: [2, 2],
    cores: 2,
    date: '2026-12-01T00:00:00.000Z',
    commit: 'abc1234',
    oneStep: score(one, fd, classes, asked),
    twoStep: score(two, fd / 2, classes, asked === undefined ? undefined : asked + 0.05),
  };
}

test('study report: mean ± sample sd per setting, classes present, missing runs, plots', () => {
  const dir = mkdtempSync(join(tmpdir(), 'study-'));
  try {
    const results = join(dir, 'study');
    const write = (r: StudyResult) => {
      mkdirSync(join(results, r.setting), { recursive: true });
      writeFileSync(join(results, r.setting, `seed-${r.seed}.json`), JSON.stringify(r));
    };
    const all = [40, 40, 40, 40, 40, 40, 40, 40, 40, 40];
    write(result('ict', 0, 0.5, 0.7, 30, 600, all, 0.9));
    write(result('ict', 1, 0.6, 0.8, 40, 620, all, 0.8));
    write(result('ict', 2, 0.7, 0.9, 50, 640, all, 0.7));
    write(result('squared-l2', 0, 0.25, 0.3, 80, 500, [0, 50, 50, 50, 50, 50, 50, 50, 50, 0]));
    const md = writeReport(results, join(dir, 'study.md'));
    assert.equal(readFileSync(join(dir, 'study.md'), 'utf8'), md);
    const row = (name: string) => md.split('\n').find((l) => l.startsWith(`| ${name} |`))!;
    // ict: confident 50/60/70 % -> mean 60, sd sqrt(((-10)^2 + 0 + 10^2) / 2) = 10; fd 30/40/50 -> 40 ± 10; two-step fd 15/20/25 -> 20 ± 5;
    // as asked 90/80/70 -> 80 ± 10 one-step, 95/85/75 -> 85 ± 10 two-step.
    assert.match(
      row('ict'),
      /\| 3 \(0, 1, 2\) \| 60\.0 ± 10\.0 \| 80\.0 ± 10\.0 \| 40\.0 ± 10\.0 \| 20\.0 ± 5\.0 \| 80\.0 ± 10\.0 \| 85\.0 ± 10\.0 \| 10 \| 620 ± 20 \|$/,
    );
    // One seed: no spread; two classes empty; an unconditional result has no "as asked" share.
    assert.match(row('squared-l2'), /\| 1 \(0\) \| 25\.0 \| 30\.0 \| 80\.0 \| 40\.0 \| {2}\| {2}\| 8 \| 500 \|$/);
    assert.match(row('ct'), /\| 0 \|/);
    const missing = STUDY_SETTINGS.length * 3 - 4;
    assert.match(md, new RegExp(`Not run yet \\(${missing}\\): ict seed|Not run yet \\(${missing}\\): ema-teacher seed 0`));
    assert.ok(!/ict seed [012][,.]/.test(md.split('Not run yet')[1]!), 'finished ict seeds are not listed as missing');
    assert.match(md, /real training digits have fd 13\.802 \(the floor\)/);
    for (const plot of ['confident-1step.png', 'confident-2step.png', 'fd-1step.png']) {
      const png = pngjs.PNG.sync.read(readFileSync(join(results, plot)));
      assert.deepEqual([png.width, png.height], [720, 420], plot);
      assert.ok(md.includes(`(study/${plot})`), `${plot} is linked from the report`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('study run refuses a changed budget without --results, and unknown settings', () => {
  const study = (...args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'dist', 'bench', 'study.js'), ...args], { encoding: 'utf8' });
  let r = study('run', '--steps', '10');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--steps\/--samples change the budget; give --results DIR/);
  r = study('run', '--settings', 'ict,nope', '--results', join(tmpdir(), 'x'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown setting 'nope' \(known: ict, ema-teacher/);
  assert.ok(!existsSync(join(tmpdir(), 'x', 'ict')));
});

test('each study setting changes what it says: the ablations differ from iCT in their one ingredient, ct is CT, ct-short-curriculum only its curriculum', () => {
  const base = runPreset(STUDY_PRESET)!;
  // The settings' flags as the flag table's values (each setting passes --name value pairs).
  const given = (flags: string[]): ConfigFlagValues => {
    const out: Record<string, string | number> = {};
    for (let i = 0; i < flags.length; i += 2) {
      const name = (flags[i] ?? '').replace(/^--/, '');
      const raw = flags[i + 1] ?? '';
      out[name] = configFlag(name).kind === 'string' ? raw : Number(raw);
    }
    return out;
  };
  const method = (flags: string[]) => resolveRunConfig(base, given(flags), []).method;
  const ict = method([]);
  const changed = (flags: string[]) => {
    const m = method(flags) as unknown as Record<string, unknown>;
    const i = ict as unknown as Record<string, unknown>;
    return Object.keys(i)
      .filter((k) => JSON.stringify(m[k]) !== JSON.stringify(i[k]))
      .sort();
  };
  const want: Record<string, string[]> = {
    ict: [],
    'ema-teacher': ['mu0', 'teacher'],
    'squared-l2': ['metric'],
    'uniform-levels': ['levels'],
    'constant-weighting': ['weighting'],
    'sqrt-curriculum': ['curriculum'],
  };
  for (const s of STUDY_SETTINGS.filter((x) => !x.peer && !x.name.startsWith('ct'))) assert.deepEqual(changed(s.flags), want[s.name], s.name);
  const ema = method(STUDY_SETTINGS.find((s) => s.name === 'ema-teacher')!.flags);
  assert.equal(ema.mu0, 0.9, 'an EMA teacher with mu0 = 0 would be the stopgrad teacher');
  const ct = method(STUDY_SETTINGS.find((s) => s.name === 'ct')!.flags);
  assert.deepEqual(
    [ct.method, ct.teacher, ct.mu0, ct.curriculum, ct.levels.kind, ct.weighting, ct.metric.kind],
    ['ct', 'ema', 0.9, { kind: 'ct-sqrt', s0: 2, s1: 150 }, 'uniform', 'constant', 'l2'],
  );
  // ct-short-curriculum is that CT with the iCT preset's curriculum endpoints, and nothing else changed.
  const short = method(STUDY_SETTINGS.find((s) => s.name === 'ct-short-curriculum')!.flags);
  assert.deepEqual(short, { ...ct, curriculum: { kind: 'ct-sqrt', s0: ict.curriculum.s0, s1: ict.curriculum.s1 } });
  assert.deepEqual([ict.curriculum.s0, ict.curriculum.s1], [10, 40]);
});

test("the peers train the preset's budget and task: its steps, batch, classes, sigma_max and two-step level", () => {
  // The peers' own defaults (bench/study_peer_common.py) are not relied on: the study passes every value.
  const p = resolveRunConfig(runPreset(STUDY_PRESET)!, {}); // what `consistency train --preset` trains
  const flags = new Map<string, string>();
  const f = peerTaskFlags();
  for (let i = 0; i < f.length; i += 2) flags.set(f[i]!, f[i + 1]!);
  assert.deepEqual(Object.fromEntries(flags), {
    '--steps': String(p.training.steps),
    '--batch': String(p.training.batch),
    '--classes': String(p.network.labelDim),
    '--sigma-max': String(p.method.sigmaMax),
    '--second-sigma': String(p.sampling.secondSigma),
  });
  assert.equal(p.network.labelDim, 10, 'the preset is class-conditional, so the peers are too');
  assert.equal(peerTaskFlags(7)[1], '7', 'a study with --steps passes them on');
});

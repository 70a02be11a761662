#!/usr/bin/env node
/**
 * `npm run study [-- flags]` = `node dist/bench/study.js [run|report] [flags]`: the ablation study of issue 13.
 *
 * `run` trains every (setting, seed) at the default's budget (the mnist-quick preset: same steps,
 * batch and network; the budget is in steps, so a loaded machine only makes a run slower), then
 * draws 400 one-step and 400 two-step samples from the same noise for every run and scores them with
 * bench/mnist_judge.py (confident share, Frechet distance in the judge's features). Each finished
 * (setting, seed) writes docs/study/<setting>/seed-<S>.json at once, so the study completes over
 * several sessions: a finished result is never redone, a stopped training resumes from its
 * checkpoint (runs live in .cache/study/, ignored by git). Seeds go in the outer loop, so a partial
 * study has every setting at seed 0 first. Stop it with Ctrl-C (or SIGTERM to its process group):
 * the training saves its checkpoint and the time spent so far is kept for the result.
 *
 * `report` writes docs/study.md: one table row per setting (mean and sample standard deviation over
 * the seeds that finished), plots with error bars (docs/study/*.png, src/image/plot.ts), and a
 * sample grid per setting (docs/study/grids/<setting>.png, seed 0).
 *
 * Settings: iCT as is; iCT with one ingredient reverted at a time (docs/method.md sections 2-4); the original CT.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { writeFileAtomic } from '../src/io/atomic.js';
import { plotPng, PALETTE, type PlotSeries } from '../src/image/plot.js';
import { runPreset } from '../src/train/presets.js';
import type { RunConfig } from '../src/train/config.js';
import { repoRoot, torchPython } from '../test/helpers/python.js';

/** One trained configuration of the study. */
export interface StudySetting {
  name: string;
  /** What it is, for the table. */
  what: string;
  /** Flags added to `consistency train --preset mnist-quick`. */
  flags: string[];
  /** A peer library's run instead: bench/study_peer_<library>.py with this --variant. */
  peer?: { library: PeerLibrary; variant: 'published' | 'corrected' };
}

/** The peers: each has bench/study_peer_<name>.py and a package of that name in .cache/study-peers. */
export type PeerLibrary = 'diffusers' | 'kinyugo';
const PEER_PACKAGE: Record<PeerLibrary, string> = { diffusers: 'diffusers', kinyugo: 'consistency_models' };

/** The preset whose budget (steps, batch, network, data) every setting shares. */
export const STUDY_PRESET = 'mnist-quick';

function studyPreset(): RunConfig {
  return runPreset(STUDY_PRESET)!;
}

export const STUDY_SETTINGS: readonly StudySetting[] = [
  { name: 'ict', what: 'iCT as the mnist-quick preset has it', flags: [] },
  // --mu0 too: iCT's mu0 is 0, and an EMA teacher with rate 0 is the stopgrad teacher again.
  {
    name: 'ema-teacher',
    what: "iCT with CT's EMA teacher (mu(k) = exp(s0 ln 0.9 / N(k)), docs/method.md sections 2 and 4)",
    flags: ['--teacher', 'ema', '--mu0', '0.9'],
  },
  { name: 'squared-l2', what: 'iCT with squared L2 instead of pseudo-Huber', flags: ['--metric', 'l2'] },
  { name: 'uniform-levels', what: 'iCT with uniform instead of lognormal levels (docs/method.md section 3)', flags: ['--levels', 'uniform'] },
  { name: 'constant-weighting', what: 'iCT with lambda = 1 instead of 1 / (sigma_{i+1} - sigma_i)', flags: ['--weighting', 'constant'] },
  { name: 'sqrt-curriculum', what: "iCT with CT's square-root curriculum (the preset's s0, s1)", flags: ['--curriculum', 'ct-sqrt'] },
  {
    name: 'ct',
    what: 'the original CT (--method ct: EMA teacher, sqrt curriculum s0 2 / s1 150, uniform levels, lambda 1; squared L2 for LPIPS)',
    flags: ['--method', 'ct'],
  },
  // CT's curriculum compressed into 2,800 steps spends about 10 steps below 10 levels (N(k) of
  // docs/method.md section 2) and measured no learning at all (gray one-step samples at every grid):
  // this row gives CT the preset's curriculum endpoints, so the CT row's failure can be told apart from CT's other ingredients.
  {
    name: 'ct-short-curriculum',
    what: "the original CT with the preset's curriculum endpoints s0 10 / s1 40 instead of CT's 2 / 150",
    flags: ['--method', 'ct', '--s0', '10', '--s1', '40'],
  },
  {
    name: 'diffusers-published',
    flags: [],
    peer: { library: 'diffusers', variant: 'published' },
    what: "peer: diffusers 0.31.0's consistency-training example as published (AdamW 1e-4, cosine, 500 warm-up, s1 1280, P_mean -1.1, no EMA; per-element pseudo-Huber, c_in without sqrt, c_skip/c_out without sigma_min), UNet2DModel 0.28M",
  },
  {
    name: 'diffusers-corrected',
    flags: [],
    peer: { library: 'diffusers', variant: 'corrected' },
    what: "peer: the same with its deviations corrected (pseudo-Huber per sample; CMStochasticIterativeScheduler's c_in, c_skip, c_out)",
  },
  {
    name: 'kinyugo-published',
    flags: [],
    peer: { library: 'kinyugo', variant: 'published' },
    what: "peer: Kinyugo's consistency_models (commit 2e6618d) ImprovedConsistencyTraining as its README's iCT example (Adam 1e-4, betas 0.9/0.995, no EMA, s1 1280, P_mean +1.1 as the README; per-element pseudo-Huber; network fed raw x and raw sigma), the same UNet2DModel",
  },
  {
    name: 'kinyugo-corrected',
    flags: [],
    peer: { library: 'kinyugo', variant: 'corrected' },
    what: 'peer: the same with its deviations corrected (P_mean -1.1, pseudo-Huber per sample, c_in x and c_noise = 250 ln sigma into the network)',
  },
];

/** Where `STUDY_PEERS=1 bash scripts/setup.sh` installs the peers (pinned there; ignored by git). */
const PEERS_DIR = join(repoRoot, '.cache', 'study-peers');

export const STUDY_SEEDS: readonly number[] = [0, 1, 2];
/** Samples per judged grid, and the seed of their noise (the same for every run). */
export const JUDGE_SAMPLES = 400;
const SAMPLE_SEED = 1000;

/** The judge's figures for one grid. */
export interface GridScore {
  n: number;
  confident: number;
  meanMaxProb: number;
  classes: number[];
  fd: number;
  real: { n: number; confident: number; fd: number };
  /** For a class-conditional model's grid (tile i asked for digit i mod 10): the share labelled as asked, and as asked with confidence. */
  asked?: number;
  confidentAsked?: number;
}

/** docs/study/<setting>/seed-<S>.json. */
export interface StudyResult {
  setting: string;
  seed: number;
  command: string;
  steps: number | null;
  trainSeconds: number;
  /** Load averages (1 min) seen at the start and end of training, and the machine's cores: timings on a shared machine are noisy. */
  load: [number, number];
  cores: number;
  date: string;
  commit: string;
  /** A peer's library as it reported itself: its version (diffusers) or installed commit (Kinyugo's), and its network's parameters. */
  peer?: PeerInfo;
  oneStep: GridScore;
  twoStep: GridScore;
}

export interface PeerInfo {
  library: string;
  version: string;
  parameters: number;
}

interface Paths {
  results: string;
  runs: string;
}

/** Thrown when a training was stopped by SIGINT/SIGTERM (it saved its checkpoint): the study stops too. */
class StudyStopped extends Error {
  constructor(readonly code: number) {
    super(`study: stopped (training exit ${code}); \`npm run study\` resumes`);
  }
}

function cli(args: string[], what: string): string {
  const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status === 130 || r.status === 143) throw new StudyStopped(r.status);
  if (r.status !== 0) throw new Error(`study: ${what} failed (exit ${r.status ?? r.signal}): consistency ${args.join(' ')}`);
  return r.stdout;
}

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

/** Scores grids with bench/mnist_judge.py (one Python start for all); `labelsCycle` > 0: tile i was asked for class i mod labelsCycle. */
export function judgeGrids(grids: string[], labelsCycle = 0): GridScore[] {
  const cycle = labelsCycle > 0 ? ['--labels-cycle', String(labelsCycle)] : [];
  const r = spawnSync(torchPython(), [join(repoRoot, 'bench', 'mnist_judge.py'), ...grids, ...cycle], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`study: bench/mnist_judge.py failed (exit ${r.status ?? r.signal})`);
  const lines = r.stdout.trim().split('\n');
  if (lines.length !== grids.length) throw new Error(`study: the judge printed ${lines.length} lines for ${grids.length} grids`);
  return lines.map((l) => JSON.parse(l) as GridScore);
}

export function resultPath(results: string, setting: string, seed: number): string {
  return join(results, setting, `seed-${seed}.json`);
}

/** The preset's budget and task as a peer's flags (bench/study_peer_common.py), so a peer never trains to a budget of its own. */
export function peerTaskFlags(steps?: number): string[] {
  const preset = studyPreset();
  return [
    '--steps',
    String(steps ?? preset.training.steps),
    '--batch',
    String(preset.training.batch),
    '--classes',
    String(preset.network.labelDim),
    '--sigma-max',
    String(preset.method.sigmaMax),
    '--second-sigma',
    String(preset.sampling.secondSigma),
  ];
}

/** Trains (or resumes) a peer's run and writes its judge grids; returns [one-step grid, two-step grid, 64-sample grid]. */
function runPeer(
  s: StudySetting,
  { library, variant }: NonNullable<StudySetting['peer']>,
  seed: number,
  runDir: string,
  steps: number | undefined,
  samples: number,
): { grids: [string, string, string]; seconds: number; command: string; info: PeerInfo } {
  if (!existsSync(join(PEERS_DIR, PEER_PACKAGE[library])))
    throw new Error(`study: ${s.name} needs the ${library} peer: STUDY_PEERS=1 bash scripts/setup.sh installs it into ${PEERS_DIR}`);
  const task = peerTaskFlags(steps);
  const args = [
    join(repoRoot, 'bench', `study_peer_${library}.py`),
    '--out',
    runDir,
    '--seed',
    String(seed),
    '--variant',
    variant,
    '--samples',
    String(samples),
    // One thread: torch's default (every core) measured 2.5-20x slower per step on a shared machine
    // (src/train/threads.ts), and the study's trainings usually share it.
    '--threads',
    '1',
    ...task,
  ];
  process.stderr.write(`study: ${s.name} seed ${seed}: ${existsSync(join(runDir, 'peer-checkpoint.pt')) ? 'resuming' : 'training'} the peer\n`);
  const env = { ...process.env, PYTHONPATH: [PEERS_DIR, join(repoRoot, '.cache', 'pydeps'), process.env.PYTHONPATH].filter(Boolean).join(':') };
  const r = spawnSync(torchPython(), args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status === 130 || r.status === 143 || r.signal === 'SIGINT' || r.signal === 'SIGTERM') throw new StudyStopped(r.status ?? 130);
  if (r.status !== 0) throw new Error(`study: the ${s.name} peer failed (exit ${r.status ?? r.signal})`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    peer: string;
    version: string;
    parameters: number;
    trainSeconds: number;
    grids: { '1step': string; '2step': string };
    grid64: string;
  };
  return {
    info: { library: out.peer, version: out.version, parameters: out.parameters },
    grids: [out.grids['1step'], out.grids['2step'], out.grid64],
    seconds: out.trainSeconds,
    command: `python3 bench/study_peer_${library}.py --variant ${variant} --seed ${seed} ${task.join(' ')}`,
  };
}

/** Trains (or resumes), samples and judges one (setting, seed); writes its result JSON. */
function runOne(s: StudySetting, seed: number, paths: Paths, steps: number | undefined, samples: number, commit: boolean): StudyResult {
  const runDir = join(paths.runs, s.name, `seed-${seed}`);
  if (s.peer) {
    const load0 = loadavg()[0]!;
    const peer = runPeer(s, s.peer, seed, runDir, steps, samples);
    const [oneStep, twoStep] = judgeGrids([peer.grids[0], peer.grids[1]], studyPreset().network.labelDim) as [GridScore, GridScore];
    return finish(
      s,
      seed,
      paths,
      {
        setting: s.name,
        seed,
        command: peer.command,
        steps: steps ?? null,
        trainSeconds: peer.seconds,
        load: [Math.round(load0 * 10) / 10, Math.round(loadavg()[0]! * 10) / 10],
        cores: cpus().length,
        date: new Date().toISOString(),
        commit: gitCommit(),
        peer: peer.info,
        oneStep,
        twoStep,
      },
      (grid) => copyFileSync(peer.grids[2], grid),
      commit,
    );
  }
  const timeFile = join(runDir, 'study-seconds.json');
  const trainArgs = [
    'train',
    '--preset',
    STUDY_PRESET,
    '--seed',
    String(seed),
    ...s.flags,
    ...(steps !== undefined ? ['--steps', String(steps)] : []),
    '--out',
    runDir,
  ];
  // A checkpoint every 100 steps: a study stopped mid-run loses little (runtime flag, not part of the config).
  const runtime = ['--checkpoint-every', '100'];
  const resuming = existsSync(join(runDir, 'checkpoint.safetensors'));
  const before = existsSync(timeFile) ? (JSON.parse(readFileSync(timeFile, 'utf8')) as { seconds: number }).seconds : 0;
  process.stderr.write(`study: ${s.name} seed ${seed}: ${resuming ? 'resuming' : 'training'} (consistency ${trainArgs.join(' ')})\n`);
  const load0 = loadavg()[0]!;
  const t0 = performance.now();
  const saveSeconds = (): number => {
    const total = before + (performance.now() - t0) / 1000;
    writeFileAtomic(timeFile, new TextEncoder().encode(JSON.stringify({ seconds: total })));
    return total;
  };
  try {
    cli([...(resuming ? ['train', '--out', runDir, '--resume'] : trainArgs), ...runtime], `training ${s.name} seed ${seed}`);
  } catch (e) {
    if (e instanceof StudyStopped) saveSeconds();
    throw e;
  }
  const seconds = saveSeconds();
  const load1 = loadavg()[0]!;

  const one = join(runDir, 'judge-1step.png');
  const two = join(runDir, 'judge-2step.png');
  cli(['sample', '--ckpt', runDir, '--n', String(samples), '--steps', '1', '--seed', String(SAMPLE_SEED), '--out', one], 'one-step sampling');
  cli(['sample', '--ckpt', runDir, '--n', String(samples), '--steps', '2', '--seed', String(SAMPLE_SEED), '--out', two], 'two-step sampling');
  // `consistency sample` without --class cycles a conditional model's labels 0, 1, 2, ...
  const { labelDim } = (JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as { config: { network: { labelDim: number } } }).config
    .network;
  const [oneStep, twoStep] = judgeGrids([one, two], labelDim) as [GridScore, GridScore];
  const result: StudyResult = {
    setting: s.name,
    seed,
    command: `consistency ${trainArgs.join(' ').replace(runDir, '<run>')}`,
    steps: steps ?? null,
    trainSeconds: Math.round(seconds),
    load: [Math.round(load0 * 10) / 10, Math.round(load1 * 10) / 10],
    cores: cpus().length,
    date: new Date().toISOString(),
    commit: gitCommit(),
    oneStep,
    twoStep,
  };
  return finish(
    s,
    seed,
    paths,
    result,
    (grid) => cli(['sample', '--ckpt', runDir, '--n', '64', '--steps', '1', '--seed', String(SAMPLE_SEED), '--out', grid], 'the setting grid'),
    commit,
  );
}

/** Writes a result (and for the first seed the setting's grid, by `writeGrid`), optionally commits them. */
function finish(s: StudySetting, seed: number, paths: Paths, result: StudyResult, writeGrid: (path: string) => void, commit: boolean): StudyResult {
  const { oneStep, twoStep } = result;
  for (const g of [oneStep, twoStep]) delete (g as Partial<GridScore> & { grid?: string }).grid;
  const out = resultPath(paths.results, s.name, seed);
  mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(out, new TextEncoder().encode(`${JSON.stringify(result, null, 1)}\n`));
  const files = [out];
  if (seed === STUDY_SEEDS[0]) {
    const grid = join(paths.results, 'grids', `${s.name}.png`);
    mkdirSync(dirname(grid), { recursive: true });
    writeGrid(grid);
    files.push(grid);
  }
  process.stderr.write(
    `study: ${s.name} seed ${seed}: one-step ${oneStep.confident} confident, fd ${oneStep.fd}; two-step ${twoStep.confident}, fd ${twoStep.fd}; ${result.trainSeconds} s\n`,
  );
  if (commit) {
    const rel = files.map((f) => relative(repoRoot, f));
    const add = spawnSync('git', ['add', '--', ...rel], { cwd: repoRoot, stdio: 'inherit' });
    const c = spawnSync(
      'git',
      ['commit', '-q', '-m', `study: ${s.name} seed ${seed} (one-step ${oneStep.confident} confident, fd ${oneStep.fd})`, '--', ...rel],
      { cwd: repoRoot, stdio: 'inherit' },
    );
    if (add.status !== 0 || c.status !== 0) process.stderr.write(`study: could not commit ${rel.join(', ')}; commit them by hand\n`);
  }
  return result;
}

/** Mean and sample standard deviation (0 for one value). */
export function meanSd(values: number[]): { mean: number; sd: number; n: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

/** Every result JSON under `results`, by setting. */
export function readResults(results: string): Map<string, StudyResult[]> {
  const bySetting = new Map<string, StudyResult[]>();
  if (!existsSync(results)) return bySetting;
  for (const name of readdirSync(results).sort()) {
    const dir = join(results, name);
    if (!statSync(dir).isDirectory() || name === 'grids') continue;
    const rows = readdirSync(dir)
      .filter((f) => /^seed-\d+\.json$/.test(f))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as StudyResult)
      .sort((a, b) => a.seed - b.seed);
    if (rows.length) bySetting.set(name, rows);
  }
  return bySetting;
}

const fmt = (m: { mean: number; sd: number; n: number }, digits: number, scale = 1): string =>
  m.n > 1 ? `${(m.mean * scale).toFixed(digits)} ± ${(m.sd * scale).toFixed(digits)}` : (m.mean * scale).toFixed(digits);

/** One error-bar plot: per setting, a vertical bar mean ± sd and a tick at the mean. */
function errorBarPlot(names: string[], stats: { mean: number; sd: number }[], title: string, logY = false): Uint8Array {
  const series: PlotSeries[] = [];
  names.forEach((name, i) => {
    const { mean, sd } = stats[i]!;
    const color = PALETTE[i % PALETTE.length]!;
    series.push({ x: [i + 1, i + 1], y: [mean - sd, mean + sd], color, label: `${i + 1} ${name}` });
    series.push({ x: [i + 0.8, i + 1.2], y: [mean, mean], color });
  });
  // The x range keeps the bars off the plot's edges and leaves its right third to the legend (drawn
  // top right), so that it covers no bar.
  return plotPng(series, { title, width: 720, height: 420, logY, xRange: [0.5, 1.5 * (names.length + 0.5)] });
}

/** Writes docs/study.md and its plots from the results found. */
export function writeReport(results: string, mdPath: string, settings: readonly StudySetting[] = STUDY_SETTINGS): string {
  const found = readResults(results);
  const rows: string[] = [];
  const names: string[] = [];
  const stats = { one: [] as { mean: number; sd: number }[], two: [] as { mean: number; sd: number }[], fd: [] as { mean: number; sd: number }[] };
  const missing: string[] = [];
  for (const s of settings) {
    const rs = found.get(s.name) ?? [];
    for (const seed of STUDY_SEEDS) if (!rs.some((r) => r.seed === seed)) missing.push(`${s.name} seed ${seed}`);
    if (rs.length === 0) {
      rows.push(`| ${s.name} | ${s.what} | 0 | | | | | | | | |`);
      continue;
    }
    const one = meanSd(rs.map((r) => r.oneStep.confident));
    const two = meanSd(rs.map((r) => r.twoStep.confident));
    const fd1 = meanSd(rs.map((r) => r.oneStep.fd));
    const fd2 = meanSd(rs.map((r) => r.twoStep.fd));
    const classes = Math.min(...rs.map((r) => r.oneStep.classes.filter((c) => c > 0).length));
    // Only class-conditional runs have an `asked` share (the judge's label is the class sampled).
    const asked = (g: (r: StudyResult) => GridScore): string =>
      rs.every((r) => g(r).asked !== undefined) ? fmt(meanSd(rs.map((r) => g(r).asked!)), 1, 100) : '';
    const secs = meanSd(rs.map((r) => r.trainSeconds));
    rows.push(
      `| ${s.name} | ${s.what} | ${rs.length} (${rs.map((r) => r.seed).join(', ')}) | ${fmt(one, 1, 100)} | ${fmt(two, 1, 100)} | ${fmt(fd1, 1)} | ${fmt(fd2, 1)} | ${asked((r) => r.oneStep)} | ${asked((r) => r.twoStep)} | ${classes} | ${fmt(secs, 0)} |`,
    );
    names.push(s.name);
    stats.one.push({ mean: one.mean * 100, sd: one.sd * 100 });
    stats.two.push({ mean: two.mean * 100, sd: two.sd * 100 });
    stats.fd.push(fd1);
  }
  const dir = dirname(mdPath);
  const plots: string[] = [];
  if (names.length) {
    const plotDir = join(results);
    mkdirSync(plotDir, { recursive: true });
    // The fd axis is logarithmic: a collapsed run's fd (about 1,100) would flatten the others (30-200).
    const specs: [string, { mean: number; sd: number }[], string, boolean][] = [
      ['confident-1step.png', stats.one, 'one-step confident digits (%), mean +- sd over seeds', false],
      ['confident-2step.png', stats.two, 'two-step confident digits (%), mean +- sd over seeds', false],
      ['fd-1step.png', stats.fd, 'one-step Frechet distance (judge features, log scale), mean +- sd', true],
    ];
    for (const [file, st, title, logY] of specs) {
      writeFileAtomic(join(plotDir, file), errorBarPlot(names, st, title, logY));
      plots.push(`![${title}](${relative(dir, join(plotDir, file))})`);
    }
  }
  const first = [...found.values()].flat()[0]?.oneStep;
  const grids = settings
    .filter((s) => existsSync(join(results, 'grids', `${s.name}.png`)))
    .map((s) => `| ${s.name} | ![${s.name}](${relative(dir, join(results, 'grids', `${s.name}.png`))}) |`);
  const md = `# The iCT ablation study (issue 13)

Written by \`npm run study -- report\` from the result files under docs/study/ (one JSON per setting and
seed, written by \`npm run study\` as each run finishes; see bench/study.ts). Every setting trains at the
default's budget: \`consistency train --preset ${STUDY_PRESET}\` (its steps, batch, network and MNIST data)
with the setting's flags and \`--seed S\`. Each run is judged on ${JUDGE_SAMPLES} one-step and ${JUDGE_SAMPLES} two-step
samples drawn from the same noise (seed ${SAMPLE_SEED}) by bench/mnist_judge.py: the share of samples its
classifier labels with probability >= 0.9 ("confident"), and the Frechet distance between its
penultimate-layer features of the samples and of the 10,000 test digits ("fd", lower is better).
Every run is class-conditional, as the preset is: tile i asks for digit i mod 10, and "as asked" is the
share the judge labels with the digit that was asked for.
${first ? `Calibration at ${first.n} samples: real test digits are ${(first.real.confident * 100).toFixed(1)}% confident; real training digits have fd ${first.real.fd} (the floor).` : ''}

Mean ± sample standard deviation over the seeds that finished. Training seconds are wall time on a
shared 2-core machine (load averages are in the JSON files): noisy, not a benchmark.

| setting | what | seeds | one-step confident % | two-step confident % | one-step fd | two-step fd | one-step as asked % | two-step as asked % | classes present (min) | train s |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

${missing.length ? `Not run yet (${missing.length}): ${missing.join(', ')}. \`npm run study\` continues with these.` : 'All settings have all seeds.'}

## Peers

Both peers are installed by \`STUDY_PEERS=1 bash scripts/setup.sh\` into .cache/study-peers (pinned, never
committed), train at one thread, and get the preset's budget and task from this study: its steps, batch, class conditioning
(on the digit labels), sigma_max and two-step level (bench/study_peer_common.py). Those are the task, not
a peer's method; everything else is the peer's own, as published or corrected. Both train the same
diffusers UNet2DModel of 0.28M parameters (the preset's network has 0.31M) with a class-embedding table.

- diffusers (PyPI, 0.31.0): bench/study_peer_diffusers.py trains as diffusers' consistency-training
  research example does (its script, which also trains class-conditionally, is not in the wheel; it is
  re-implemented from its description and defaults) with CMStochasticIterativeScheduler's scalings.
- Kinyugo's \`consistency_models\` (GitHub only, commit 2e6618d of 2023-12-26; PyPI's "consistency-models"
  0.0.1.dev0 is an empty placeholder by someone else): bench/study_peer_kinyugo.py calls its
  ImprovedConsistencyTraining and ConsistencySamplingAndEditing. The library brings no network and
  leaves the loss and optimizer to its user; the published row follows its README's iCT example,
  including its lognormal mean +1.1 (the code's default is -1.1: the sign error docs/method.md section 3
  notes) and its per-element pseudo-Huber (section 4), and its contract of calling the network on the
  raw noisy sample and sigma (no c_in).

## Plots

${plots.join('\n\n')}

## One-step samples per setting (seed 0)

| setting | 64 one-step samples |
|---|---|
${grids.join('\n')}
`;
  writeFileAtomic(mdPath, new TextEncoder().encode(md));
  return md;
}

function parseList(v: string | undefined, all: readonly string[], what: string): string[] {
  if (v === undefined) return [...all];
  const items = v.split(',').filter(Boolean);
  for (const i of items) if (!all.includes(i)) throw new Error(`study: unknown ${what} '${i}' (known: ${all.join(', ')})`);
  return items;
}

function main(argv: string[]): number {
  // `npm run study` alone (or with flags only) runs; `npm run study -- report` writes the report.
  const [cmd, ...rest] = argv[0] === undefined || argv[0].startsWith('--') ? ['run', ...argv] : argv;
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--commit') flags.set('commit', 'true');
    else if (a.startsWith('--') && i + 1 < rest.length) flags.set(a.slice(2), rest[++i]!);
    else
      throw new Error(
        `study: unexpected argument '${a}' (usage: study run|report [--settings a,b] [--seeds 0,1] [--commit] [--results DIR] [--runs DIR])`,
      );
  }
  const known = new Set(['settings', 'seeds', 'commit', 'results', 'runs', 'steps', 'samples', 'report']);
  for (const k of flags.keys()) if (!known.has(k)) throw new Error(`study: unknown flag --${k}`);
  const paths: Paths = {
    results: flags.get('results') ?? join(repoRoot, 'docs', 'study'),
    runs: flags.get('runs') ?? join(repoRoot, '.cache', 'study'),
  };
  const report = flags.get('report') ?? join(dirname(paths.results), 'study.md');
  if (cmd === 'report') {
    writeReport(paths.results, report);
    console.log(report);
    return 0;
  }
  if (cmd !== 'run') throw new Error('study: usage: study run|report [--settings a,b] [--seeds 0,1,2] [--commit]');
  const settings = parseList(
    flags.get('settings'),
    STUDY_SETTINGS.map((s) => s.name),
    'setting',
  );
  const seeds = parseList(flags.get('seeds'), STUDY_SEEDS.map(String), 'seed').map(Number);
  const steps = flags.has('steps') ? Number(flags.get('steps')) : undefined;
  const samples = flags.has('samples') ? Number(flags.get('samples')) : JUDGE_SAMPLES;
  if (steps !== undefined && !(Number.isSafeInteger(steps) && steps >= 1))
    throw new Error(`study: --steps must be an integer >= 1; got ${flags.get('steps')}`);
  if (!(Number.isSafeInteger(samples) && samples >= 2)) throw new Error(`study: --samples must be an integer >= 2; got ${flags.get('samples')}`);
  if ((steps !== undefined || samples !== JUDGE_SAMPLES) && !flags.has('results'))
    throw new Error('study: --steps/--samples change the budget; give --results DIR so such runs do not mix with the study');
  for (const seed of seeds)
    for (const name of settings) {
      if (existsSync(resultPath(paths.results, name, seed))) continue;
      runOne(
        STUDY_SETTINGS.find((s) => s.name === name)!,
        seed,
        paths,
        steps,
        samples,
        flags.has('commit'),
      );
      writeReport(paths.results, report);
    }
  writeReport(paths.results, report);
  return 0;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  // Ctrl-C reaches the whole process group: the training saves its checkpoint and exits 130, and
  // the study, kept alive by these handlers, records the time spent and stops.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = e instanceof StudyStopped ? e.code : 1;
  }
}

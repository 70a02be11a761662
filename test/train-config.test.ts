/**
 * Run configs: the one table of presets (src/train/presets.ts) holds the spec's settings for the
 * paper presets (RAdam; the original CT's own settings for --method ct) and the tuned CPU
 * presets; every method and training flag of `consistency train` lands in the field it names;
 * config differences are named by dotted path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFlag, resolveRunConfig, type ConfigFlagValues } from '../src/train/config-flags.js';
import { methodPreset } from '../src/method/presets.js';
import { PRESET_NAMES, resolvePreset, runPreset } from '../src/train/presets.js';
import { diffRunConfigs, type RunConfig } from '../src/train/config.js';
import { getPath, type JsonObject } from '../src/train/json.js';

test('the run table: paper presets with the spec settings and RAdam, flips on CIFAR-10 and ImageNet 64, the CPU presets as tuned', () => {
  for (const name of PRESET_NAMES) {
    const p = resolvePreset(name);
    assert.equal(p.config.preset, name);
    assert.equal(p.ct.preset, name);
    assert.equal(p.config.data.flip, p.config.data.dataset === 'cifar10' || p.config.data.dataset === 'imagenet64', `${name} flips`);
    assert.deepEqual(runPreset(name), p.config);
    assert.deepEqual(runPreset(name, 'ct'), p.ct);
    assert.equal(p.ct.method.method, 'ct');
    assert.equal(p.ct.method.metric.kind, 'l2', `${name}: CT with squared L2 for the unavailable LPIPS`);
  }
  // The paper presets keep the paper's method exactly (docs/method.md sections 2-4) and use RAdam (issue 13).
  for (const name of ['cifar10', 'cifar10-deep']) assert.deepEqual(runPreset(name)!.method, methodPreset('ict'));
  for (const name of ['imagenet64', 'imagenet64-deep'])
    assert.deepEqual(runPreset(name)!.method, methodPreset('ict', { noiseEmbedding: 'positional' }));
  for (const name of ['cifar10', 'cifar10-deep', 'imagenet64', 'imagenet64-deep']) {
    const t = runPreset(name)!.training;
    assert.equal(t.optimizer.kind, 'radam', name);
    assert.equal(t.optimizer.lr, 1e-4);
    assert.equal(t.emaRate, 0.99993);
  }
  assert.deepEqual([runPreset('cifar10')!.training.batch, runPreset('cifar10')!.training.steps], [1024, 400_000]);
  assert.equal(runPreset('imagenet64')!.sampling.secondSigma, 1.526);
  assert.equal(runPreset('cifar10')!.sampling.secondSigma, 0.821);
  assert.equal(runPreset('mnist-tiny')!.data.pad32, true);
  assert.equal(runPreset('nope'), undefined);
  // The CPU presets train as they were tuned (the values of the tuning runs in README).
  const quick = runPreset('mnist-quick')!;
  assert.deepEqual(
    [
      quick.training.batch,
      quick.training.steps,
      quick.training.optimizer.kind,
      quick.training.optimizer.lr,
      quick.training.optimizer.warmupSteps,
      quick.training.emaRate,
    ],
    [32, 2_800, 'adam', 1.5e-3, 100, 0.995],
  );
  assert.deepEqual(quick.method, methodPreset('ict', { curriculum: { s0: 10, s1: 40 }, levels: { pMean: -0.5 }, sigmaMax: 20 }));
  assert.equal(quick.network.labelDim, 10, 'class-conditional on the ten digits');
  assert.equal(quick.data.pad32, false);
  assert.equal(quick.network.dropout, 0);
  const cpu = runPreset('cifar10-cpu')!;
  assert.deepEqual(
    [
      cpu.training.batch,
      cpu.training.steps,
      cpu.training.optimizer.kind,
      cpu.training.optimizer.lr,
      cpu.training.optimizer.warmupSteps,
      cpu.training.emaRate,
    ],
    [32, 10_000, 'adam', 1e-3, 200, 0.999],
  );
  assert.deepEqual(cpu.method, methodPreset('ict', { curriculum: { s0: 10, s1: 80 } }));
  const tiny = runPreset('mnist-tiny')!;
  assert.deepEqual(
    [tiny.training.batch, tiny.training.steps, tiny.training.optimizer.lr, tiny.training.emaRate, tiny.network.dropout],
    [128, 20_000, 2e-4, 0.9999, 0.1],
  );
});

test("--method ct is the original CT with its paper's settings on the paper presets, and CT's method on the CPU presets", () => {
  const ct = runPreset('cifar10', 'ct')!;
  assert.equal(ct.network.architecture === 'song' && ct.network.fourierScale, 16);
  assert.equal(ct.network.dropout, 0);
  assert.deepEqual([ct.training.batch, ct.training.steps, ct.training.emaRate], [512, 800_000, 0.9999]);
  assert.equal(ct.training.optimizer.kind, 'radam');
  assert.equal(ct.training.optimizer.lr, 2e-4);
  assert.ok(ct.training.optimizer.warmupSteps > 0, 'a warm-up');
  assert.deepEqual(ct.method, methodPreset('ct', { metric: { kind: 'l2' } }));
  const inet = runPreset('imagenet64', 'ct')!;
  assert.equal(inet.method.mu0, 0.95);
  assert.equal(inet.method.curriculum.s1, 200);
  assert.equal(inet.method.noiseEmbedding, 'positional');
  assert.equal(inet.network.dropout, 0);
  assert.equal(inet.training.optimizer.lr, 2e-4);
  // On a CPU preset only the method changes.
  const quick = runPreset('mnist-quick')!;
  const quickCt = runPreset('mnist-quick', 'ct')!;
  assert.deepEqual(
    diffRunConfigs(quick, quickCt).filter((f) => !f.startsWith('method.')),
    [],
  );
  // Through the flags: --method ct on cifar10 is the CT run, and --fourier-scale changes it.
  const viaFlags = resolve(['--method', 'ct']).config;
  assert.deepEqual(viaFlags, ct);
  const scaled = resolve(['--method', 'ct', '--fourier-scale', '8']).config;
  assert.deepEqual(diffRunConfigs(ct, scaled), ['network.fourierScale']);
  assert.throws(
    () => resolve(['--fourier-scale', '8'], runPreset('imagenet64')),
    /--fourier-scale: preset 'imagenet64' has an ADM network, which has no Fourier embedding/,
  );
  assert.throws(() => resolve(['--fourier-scale', '0']), /--fourier-scale must be a number > 0; got 0/);
});

/** The flag values of a command line's flags, read by each flag's kind in the table (the CLI's parser is tested through the CLI). */
function given(argv: string[]): ConfigFlagValues {
  const out: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!.slice(2);
    if (a.startsWith('no-')) out[a.slice(3)] = false;
    else if (configFlag(a).kind === 'boolean') out[a] = true;
    else out[a] = configFlag(a).kind === 'string' ? argv[++i]! : Number(argv[++i]);
  }
  return out;
}

function resolve(argv: string[], base = runPreset('cifar10')!): { config: RunConfig; notes: string[] } {
  const notes: string[] = [];
  return { config: resolveRunConfig(base, given(argv), notes), notes };
}

test('each training flag sets the field it names, and nothing else', () => {
  const base = runPreset('cifar10')!;
  const cases: Array<[string[], string, unknown]> = [
    [['--teacher', 'ema'], 'method.teacher', 'ema'],
    [['--metric', 'l1'], 'method.metric.kind', 'l1'],
    [['--huber-c', '0.03'], 'method.metric.c', 0.03],
    [['--curriculum', 'ct-sqrt', '--s0', '2'], 'method.curriculum.kind', 'ct-sqrt'],
    [['--levels', 'uniform'], 'method.levels.kind', 'uniform'],
    [['--weighting', 'constant'], 'method.weighting', 'constant'],
    [['--p-mean', '-1.3'], 'method.levels.pMean', -1.3],
    [['--p-std', '1.5'], 'method.levels.pStd', 1.5],
    [['--s0', '5'], 'method.curriculum.s0', 5],
    [['--s1', '640'], 'method.curriculum.s1', 640],
    [['--mu0', '0.95'], 'method.mu0', 0.95],
    [['--sigma-min', '0.001'], 'method.sigmaMin', 0.001],
    [['--sigma-max', '120'], 'method.sigmaMax', 120],
    [['--sigma-data', '0.4'], 'method.sigmaData', 0.4],
    [['--rho', '5'], 'method.rho', 5],
    [['--steps', '1234'], 'training.steps', 1234],
    [['--batch', '16'], 'training.batch', 16],
    [['--lr', '0.0003'], 'training.optimizer.lr', 0.0003],
    [['--optimizer', 'adam'], 'training.optimizer.kind', 'adam'],
    [['--beta1', '0.8'], 'training.optimizer.beta1', 0.8],
    [['--beta2', '0.99'], 'training.optimizer.beta2', 0.99],
    [['--eps', '1e-6'], 'training.optimizer.eps', 1e-6],
    [['--warmup', '100'], 'training.optimizer.warmupSteps', 100],
    [['--grad-clip', '1'], 'training.optimizer.gradClip', 1],
    [['--classes', '10'], 'network.labelDim', 10],
    [['--ema', '0.999'], 'training.emaRate', 0.999],
    [['--dropout', '0.1'], 'network.dropout', 0.1],
    [['--fourier-scale', '16'], 'network.fourierScale', 16],
    [['--seed', '7'], 'training.seed', 7],
    [['--second-sigma', '1.5'], 'sampling.secondSigma', 1.5],
    [['--no-flip'], 'data.flip', false],
    [['--dataset', 'folder', '--data', '/data/pics'], 'data.path', '/data/pics'],
  ];
  for (const [argv, path, value] of cases) {
    const { config } = resolve(argv, base);
    assert.deepEqual(getPath(config as unknown as JsonObject, path), value, argv.join(' '));
    // Only the named fields (and what they imply) changed.
    const changed = diffRunConfigs(base, config);
    assert.ok(changed.includes(path), `${argv.join(' ')} changes ${path}: ${changed.join(', ')}`);
    assert.ok(changed.length <= 3, `${argv.join(' ')} changed only a few fields: ${changed.join(', ')}`);
  }
  assert.deepEqual(resolve([]).config, base, 'no flags: the preset unchanged');
  assert.equal(resolve(['--dataset', 'folder']).config.data.size, 32, 'folders resize to the network resolution');
});

test('--method ct starts from the paper CT settings, with squared L2 for the unavailable LPIPS, and keeps later flags', () => {
  const { config, notes } = resolve(['--method', 'ct', '--s1', '200']);
  assert.equal(config.method.method, 'ct');
  assert.equal(config.method.teacher, 'ema');
  assert.equal(config.method.mu0, 0.9);
  assert.deepEqual(config.method.curriculum, { kind: 'ct-sqrt', s0: 2, s1: 200 });
  assert.equal(config.method.levels.kind, 'uniform');
  assert.equal(config.method.weighting, 'constant');
  assert.equal(config.method.metric.kind, 'l2');
  assert.match(notes.join('\n'), /LPIPS/);
  assert.deepEqual(diffRunConfigs(config, config), []);
  const named = diffRunConfigs(runPreset('cifar10')!, config);
  for (const f of [
    'method.method',
    'method.teacher',
    'method.mu0',
    'method.curriculum.kind',
    'method.curriculum.s0',
    'method.curriculum.s1',
    'method.levels.kind',
    'method.weighting',
    'method.metric.kind',
  ])
    assert.ok(named.includes(f), `${f} in ${named.join(', ')}`);
});

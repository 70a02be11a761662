/**
 * Run configs: every preset maps to a run config with its network, data and optimizer settings
 * (and the paper's method settings where the preset is a paper preset); every method and
 * training flag of `consistency train` lands in the field it names; config differences are named
 * by dotted path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from '../src/cli/args.js';
import { TRAIN_FLAGS, resolveRunConfig } from '../src/cli/train.js';
import { PRESET_NAMES, resolvePreset } from '../src/networks/presets.js';
import { methodPreset } from '../src/method/presets.js';
import { runPreset } from '../src/train/run-preset.js';
import { diffRunConfigs, type RunConfig } from '../src/train/config.js';
import { getPath, type JsonObject } from '../src/train/json.js';

test('every preset maps to a run config: network, data, optimizer, two-step level, flips on CIFAR-10 and ImageNet 64', () => {
  for (const name of PRESET_NAMES) {
    const p = resolvePreset(name);
    const c = runPreset(name)!;
    assert.equal(c.preset, name);
    assert.deepEqual(c.network, p.network);
    assert.equal(c.noiseEmbedding, p.noiseEmbedding);
    assert.equal(c.data.dataset, p.data.dataset);
    assert.equal(c.data.pad32, p.data.padding === 2);
    assert.equal(c.data.flip, p.data.dataset === 'cifar10' || p.data.dataset === 'imagenet64', `${name} flips`);
    assert.equal(c.training.batch, p.training.batchSize);
    assert.equal(c.training.steps, p.training.iterations);
    assert.equal(c.training.optimizer.lr, p.training.learningRate);
    assert.equal(c.training.optimizer.kind, p.training.optimizer);
    assert.deepEqual([c.training.optimizer.beta1, c.training.optimizer.beta2], p.training.adamBetas);
    assert.equal(c.training.emaRate, p.training.emaRate);
    assert.equal(c.sampling.secondSigma, p.training.twoStepSigma);
    assert.equal(c.method.method, p.method);
  }
  // The paper presets keep the paper's method exactly (spec sections 2-4).
  for (const name of ['cifar10', 'cifar10-deep', 'imagenet64', 'imagenet64-deep']) assert.deepEqual(runPreset(name)!.method, methodPreset('ict'));
  assert.equal(runPreset('imagenet64')!.sampling.secondSigma, 1.526);
  assert.equal(runPreset('cifar10')!.sampling.secondSigma, 0.821);
  assert.equal(runPreset('nope'), undefined);
});

function resolve(argv: string[], base = runPreset('cifar10')!): { config: RunConfig; notes: string[] } {
  const notes: string[] = [];
  const flags = parseFlags('consistency train', [...argv, '--out', '/tmp/x'], TRAIN_FLAGS);
  const flipGiven = argv.some((a) => a === '--flip' || a === '--no-flip');
  return { config: resolveRunConfig(base, flags, notes, flipGiven), notes };
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
    [['--optimizer', 'radam'], 'training.optimizer.kind', 'radam'],
    [['--beta1', '0.8'], 'training.optimizer.beta1', 0.8],
    [['--beta2', '0.99'], 'training.optimizer.beta2', 0.99],
    [['--eps', '1e-6'], 'training.optimizer.eps', 1e-6],
    [['--warmup', '100'], 'training.optimizer.warmupSteps', 100],
    [['--grad-clip', '1'], 'training.optimizer.gradClip', 1],
    [['--ema', '0.999'], 'training.emaRate', 0.999],
    [['--dropout', '0.1'], 'network.dropout', 0.1],
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
  for (const f of ['method.method', 'method.teacher', 'method.mu0', 'method.curriculum.kind', 'method.curriculum.s0', 'method.curriculum.s1', 'method.levels.kind', 'method.weighting', 'method.metric.kind'])
    assert.ok(named.includes(f), `${f} in ${named.join(', ')}`);
});

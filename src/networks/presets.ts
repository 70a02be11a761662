/**
 * Named presets: a network configuration plus the data and training settings that go with it.
 * The four paper presets follow docs/method.md section 5 (iCT, Song & Dhariwal 2023); values the spec
 * marks [unverified] are marked the same way here. The three CPU presets are this project's
 * choices (not from the paper), sized for training on a few CPU cores; their training settings
 * are starting points for the training code to tune.
 */
import type { NoiseEmbedding } from '../method/scalings.js';
import type { MethodName } from '../method/presets.js';
import type { DhariwalUNetConfig, NetworkConfig, SongUNetConfig } from './config.js';

export type PresetName = 'cifar10' | 'cifar10-deep' | 'imagenet64' | 'imagenet64-deep' | 'cifar10-cpu' | 'mnist-tiny' | 'mnist-quick';

export const PRESET_NAMES: readonly PresetName[] = ['cifar10', 'cifar10-deep', 'imagenet64', 'imagenet64-deep', 'cifar10-cpu', 'mnist-tiny', 'mnist-quick'];

/** The data a preset trains on. */
export interface DataSettings {
  dataset: 'cifar10' | 'imagenet64' | 'mnist';
  /** Network input size (after padding). */
  resolution: number;
  channels: number;
  /** Classes the network is conditioned on; 0 = unconditional. */
  classes: number;
  /** Zero pixels added on each side of the stored images to reach `resolution` (MNIST: 28 + 2 * 2 = 32). */
  padding: number;
}

/** Optimization and sampling settings. */
export interface TrainingSettings {
  /** Images per step. */
  batchSize: number;
  /** Training steps K (the curriculum of docs/method.md section 2 is laid out over these). */
  iterations: number;
  optimizer: 'adam' | 'radam';
  learningRate: number;
  /** Adam's beta1, beta2. */
  adamBetas: [number, number];
  /** Steps of linear learning-rate warm-up (0 = none). */
  warmupIterations: number;
  /** Decay rate of the EMA of the weights used for evaluation. */
  emaRate: number;
  /** The second noise level of 2-step sampling (docs/method.md section 6). */
  twoStepSigma: number;
}

export interface Preset {
  name: PresetName;
  /** One line for people. */
  description: string;
  /** The consistency-training method (src/method/presets.ts). */
  method: MethodName;
  /** Which c_noise convention the network expects (docs/method.md section 1). */
  noiseEmbedding: NoiseEmbedding;
  /** The network; its `dropout` is the training dropout rate. */
  network: NetworkConfig;
  data: DataSettings;
  training: TrainingSettings;
  /** The parameter count of EDM's implementation of this network (docs/method.md section 5); null for this project's presets. */
  referenceParameterCount: number | null;
}

/** NCSN++ as iCT trains it on CIFAR-10 (docs/method.md section 5): EDM's SongUNet with the NCSN++ settings. */
function ncsnpp(numBlocks: number): SongUNetConfig {
  return {
    architecture: 'song',
    imgResolution: 32, inChannels: 3, outChannels: 3, labelDim: 0,
    modelChannels: 128, channelMult: [2, 2, 2], channelMultEmb: 4, numBlocks,
    attnResolutions: [16],
    dropout: 0.3, // [unverified]
    dropoutMaxResolution: null,
    embeddingType: 'fourier',
    fourierScale: 0.02, // iCT's value; NCSN++'s default is 16
    channelMultNoise: 2,
    encoderType: 'residual', decoderType: 'standard',
    resampleFilter: [1, 3, 3, 1],
  };
}

/** ADM as iCT trains it on class-conditional ImageNet 64x64 (docs/method.md section 5). */
function adm(numBlocks: number): DhariwalUNetConfig {
  return {
    architecture: 'adm',
    imgResolution: 64, inChannels: 3, outChannels: 3, labelDim: 1000,
    modelChannels: 192, channelMult: [1, 2, 3, 4], channelMultEmb: 4, numBlocks,
    attnResolutions: [32, 16, 8], channelsPerHead: 64,
    dropout: 0.2, // [unverified]
    dropoutMaxResolution: 16, // [unverified] dropout only at resolutions 16 and below
  };
}

/** A small NCSN++ from the same code (this project's choice). */
function smallSong(over: Partial<SongUNetConfig>): SongUNetConfig {
  return { ...ncsnpp(2), ...over };
}

const CIFAR10_TRAINING: TrainingSettings = {
  batchSize: 1024,
  iterations: 400_000,
  optimizer: 'adam', // the paper names Adam or RAdam
  learningRate: 1e-4, // [unverified]
  adamBetas: [0.9, 0.999], // [unverified] PyTorch's defaults
  warmupIterations: 0, // [unverified]
  emaRate: 0.99993,
  twoStepSigma: 0.821,
};

const IMAGENET64_TRAINING: TrainingSettings = {
  batchSize: 4096, // [unverified]
  iterations: 800_000, // [unverified]
  optimizer: 'adam',
  learningRate: 1e-4, // [unverified]
  adamBetas: [0.9, 0.999], // [unverified]
  warmupIterations: 0, // [unverified]
  emaRate: 0.99993, // [unverified] docs/method.md section 5 has no value; CIFAR-10's rate
  twoStepSigma: 1.526,
};

const CIFAR10_DATA: DataSettings = { dataset: 'cifar10', resolution: 32, channels: 3, classes: 0, padding: 0 };
const IMAGENET64_DATA: DataSettings = { dataset: 'imagenet64', resolution: 64, channels: 3, classes: 1000, padding: 0 };
// MNIST's 28x28 digits are zero-padded to 32x32 so the three levels halve evenly (32, 16, 8).
// Zero in [0, 1] pixel values is -1 after scaling to [-1, 1]: the padding is background.
const MNIST_DATA: DataSettings = { dataset: 'mnist', resolution: 32, channels: 1, classes: 0, padding: 2 };

const PRESETS: Record<PresetName, Preset> = {
  cifar10: {
    name: 'cifar10',
    description: 'iCT on CIFAR-10: NCSN++, 128 channels, (2,2,2), 4 blocks per resolution (docs/method.md section 5)',
    method: 'ict', noiseEmbedding: 'fourier',
    network: ncsnpp(4), data: CIFAR10_DATA, training: CIFAR10_TRAINING,
    referenceParameterCount: 56_395_523,
  },
  'cifar10-deep': {
    name: 'cifar10-deep',
    description: 'iCT-deep on CIFAR-10: NCSN++ with 8 blocks per resolution',
    method: 'ict', noiseEmbedding: 'fourier',
    network: ncsnpp(8), data: CIFAR10_DATA, training: CIFAR10_TRAINING,
    referenceParameterCount: 97_610_499,
  },
  imagenet64: {
    name: 'imagenet64',
    description: 'iCT on class-conditional ImageNet 64x64: ADM, 192 channels, (1,2,3,4), 3 blocks, attention at 32/16/8',
    method: 'ict', noiseEmbedding: 'positional',
    network: adm(3), data: IMAGENET64_DATA, training: IMAGENET64_TRAINING,
    referenceParameterCount: 295_899_267,
  },
  'imagenet64-deep': {
    name: 'imagenet64-deep',
    description: 'iCT-deep on class-conditional ImageNet 64x64: ADM with 6 blocks per resolution',
    method: 'ict', noiseEmbedding: 'positional',
    network: adm(6), data: IMAGENET64_DATA, training: IMAGENET64_TRAINING,
    referenceParameterCount: 495_357_699,
  },
  'cifar10-cpu': {
    name: 'cifar10-cpu',
    description: 'CIFAR-10 in a few hours on a CPU (project choice): NCSN++ code, 32 channels, (1,2,2), 1 block, attention only at 8x8',
    method: 'ict', noiseEmbedding: 'fourier',
    // mnist-quick's layout with 3 colour channels and twice the width: the paper's 56M-parameter
    // network takes about 16 s per batch of 128 on 2 cores (weeks for 100k steps). attnResolutions
    // is empty: the decoder's first block at the lowest resolution (8x8) always attends. No dropout:
    // a network this small on a budget this short underfits rather than overfits.
    network: smallSong({ modelChannels: 32, channelMult: [1, 2, 2], numBlocks: 1, attnResolutions: [], dropout: 0 }),
    data: CIFAR10_DATA,
    // Project choices, sized for about 3 hours on 2 cores (src/train/run-preset.ts adds s1 = 80).
    training: { ...CIFAR10_TRAINING, batchSize: 32, iterations: 10_000, learningRate: 1e-3, warmupIterations: 200, emaRate: 0.999 },
    referenceParameterCount: null,
  },
  'mnist-tiny': {
    name: 'mnist-tiny',
    description: 'MNIST padded to 32x32 (project choice): NCSN++ code, 32 channels, (1,2,2), 2 blocks, attention at 16 and 8',
    method: 'ict', noiseEmbedding: 'fourier',
    network: smallSong({ inChannels: 1, outChannels: 1, modelChannels: 32, channelMult: [1, 2, 2], numBlocks: 2, attnResolutions: [16], dropout: 0.1 }),
    data: MNIST_DATA,
    // Project choices; the 2-step sigma is CIFAR-10's (unverified for MNIST).
    training: { ...CIFAR10_TRAINING, batchSize: 128, iterations: 20_000, learningRate: 2e-4, emaRate: 0.9999 },
    referenceParameterCount: null,
  },
  'mnist-quick': {
    name: 'mnist-quick',
    description: 'MNIST 28x28 (unpadded), fastest preset (project choice): NCSN++ code, 16 channels, (1,2,2), 1 block, attention only at 7x7',
    method: 'ict', noiseEmbedding: 'fourier',
    // attnResolutions is empty: the decoder's first block at the lowest resolution (7x7) always attends.
    network: smallSong({ imgResolution: 28, inChannels: 1, outChannels: 1, modelChannels: 16, channelMult: [1, 2, 2], numBlocks: 1, attnResolutions: [], dropout: 0 }),
    // 28x28 without padding: 0.77x the pixels of 32x32, so more steps fit the time.
    data: { dataset: 'mnist', resolution: 28, channels: 1, classes: 0, padding: 0 },
    // Tuned for at most 10 minutes on 2 CPU cores, judged by an MNIST classifier on 400 one-step
    // samples (bench/mnist_judge.py; src/train/run-preset.ts adds s1 = 40 and P_mean = -0.5).
    // Same 2,700 steps, one thread: batch 16 gave 29-34% confidently classified digits, batch 32
    // 35%, batch 32 with P_mean = -0.5 44% (two-step 54%); EMA 0.99/0.999, lr 7.5e-4/3e-3, beta2
    // 0.99, a wider 7x7 level and c_noise = 250 ln(sigma) gave no gain. Batch 32 also runs more
    // images per second on 2 threads (134-155 vs 128). 2,600 steps took 10m22s on 2 idle cores
    // (42.5% one-step), so 2,200.
    training: { ...CIFAR10_TRAINING, batchSize: 32, iterations: 2_200, learningRate: 1.5e-3, warmupIterations: 100, emaRate: 0.995 },
    referenceParameterCount: null,
  },
};

/** True when `name` is a preset's name. */
export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/**
 * The preset called `name` (a deep copy: changing it changes nothing else).
 * @example resolvePreset('cifar10').network.numBlocks // 4
 */
export function resolvePreset(name: string): Preset {
  if (!isPresetName(name)) throw new RangeError(`unknown preset '${name}'; expected one of ${PRESET_NAMES.join(', ')}`);
  return structuredClone(PRESETS[name]);
}

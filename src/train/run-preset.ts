/**
 * The starting RunConfig of a named preset (network, method, data, optimizer settings).
 * TEMPORARY: a small internal table until src/networks/presets.ts lands; then this file maps
 * its Preset objects instead.
 */
import { methodPreset } from '../method/presets.js';
import type { SongUNetConfig } from '../networks/config.js';
import type { RunConfig } from './config.js';

const smallSong = (res: number, channels: number, labelDim: number, modelChannels: number, mult: number[]): SongUNetConfig => ({
  architecture: 'song', imgResolution: res, inChannels: channels, outChannels: channels, labelDim, modelChannels, channelMult: mult,
  channelMultEmb: 4, numBlocks: 1, attnResolutions: [], dropout: 0, dropoutMaxResolution: null,
  embeddingType: 'fourier', fourierScale: 0.02, channelMultNoise: 2, encoderType: 'standard', decoderType: 'standard', resampleFilter: [1, 1],
});

const TABLE: Record<string, () => RunConfig> = {
  'mnist-tiny': () => ({
    preset: 'mnist-tiny', network: smallSong(28, 1, 0, 8, [1, 2]), noiseEmbedding: 'fourier',
    method: methodPreset('ict', { curriculum: { s0: 10, s1: 40 } }),
    data: { dataset: 'mnist', path: null, pad32: false, flip: false, size: null, limit: null },
    training: { steps: 50, batch: 8, optimizer: { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, warmupSteps: 0, gradClip: null }, emaRate: 0.99, seed: 0 },
    sampling: { secondSigma: 0.821 },
  }),
  'mnist-quick': () => ({
    preset: 'mnist-quick', network: smallSong(28, 1, 0, 32, [1, 2, 2]), noiseEmbedding: 'fourier',
    method: methodPreset('ict', { curriculum: { s0: 10, s1: 80 } }),
    data: { dataset: 'mnist', path: null, pad32: false, flip: false, size: null, limit: null },
    training: { steps: 2000, batch: 32, optimizer: { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, warmupSteps: 0, gradClip: null }, emaRate: 0.995, seed: 0 },
    sampling: { secondSigma: 0.821 },
  }),
};

/** The preset names. */
export function runPresetNames(): string[] {
  return Object.keys(TABLE);
}

/** The RunConfig of a preset, or undefined for an unknown name. */
export function runPreset(name: string): RunConfig | undefined {
  return TABLE[name]?.();
}

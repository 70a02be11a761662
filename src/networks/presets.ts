/**
 * The paper configurations of the two architectures (docs/method.md section 5; iCT, Song & Dhariwal 2023):
 * NCSN++ as iCT trains it on CIFAR-10 and ADM as iCT trains it on ImageNet 64x64. Values the spec
 * marks [unverified] are marked the same way here. Named runs (network + method + data +
 * training) are in src/train/presets.ts.
 */
import type { DhariwalUNetConfig, SongUNetConfig } from './config.js';

/** NCSN++ as iCT trains it on CIFAR-10: EDM's SongUNet with the NCSN++ settings and numBlocks residual blocks per resolution (4; iCT-deep 8). */
export function ncsnppConfig(numBlocks: number): SongUNetConfig {
  return {
    architecture: 'song',
    imgResolution: 32,
    inChannels: 3,
    outChannels: 3,
    labelDim: 0,
    modelChannels: 128,
    channelMult: [2, 2, 2],
    channelMultEmb: 4,
    numBlocks,
    attnResolutions: [16],
    dropout: 0.3, // [unverified]
    dropoutMaxResolution: null,
    embeddingType: 'fourier',
    fourierScale: 0.02, // iCT's value; NCSN++'s default is 16
    channelMultNoise: 2,
    encoderType: 'residual',
    decoderType: 'standard',
    resampleFilter: [1, 3, 3, 1],
  };
}

/** ADM as iCT trains it on class-conditional ImageNet 64x64, with numBlocks residual blocks per resolution (3; iCT-deep 6). */
export function admConfig(numBlocks: number): DhariwalUNetConfig {
  return {
    architecture: 'adm',
    imgResolution: 64,
    inChannels: 3,
    outChannels: 3,
    labelDim: 1000,
    modelChannels: 192,
    channelMult: [1, 2, 3, 4],
    channelMultEmb: 4,
    numBlocks,
    attnResolutions: [32, 16, 8],
    channelsPerHead: 64,
    dropout: 0.2, // [unverified]
    dropoutMaxResolution: 16, // [unverified] dropout only at resolutions 16 and below
  };
}

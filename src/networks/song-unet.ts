/**
 * NCSN++ and DDPM++ (Song et al. 2021, "Score-Based Generative Modeling through Stochastic
 * Differential Equations"), structured as EDM's SongUNet so that tensor names and layouts match
 * EDM's state dicts. iCT's CIFAR-10 network is NCSN++ with 128 channels, multipliers (2, 2, 2),
 * 4 blocks per resolution, attention at 16x16 and Fourier scale 0.02 (docs/method.md section 5).
 *
 * Layout: a mapping network turns c_noise (and the class) into a conditioning vector; the
 * encoder runs numBlocks residual blocks per level, halving the resolution between levels with
 * a downsampling residual block (plus, for the 'residual' encoder, a second input path that is
 * downsampled with a fused FIR conv and averaged in); the decoder mirrors it with numBlocks + 1
 * blocks per level that take the encoder's activations as skip connections.
 */
import { Tensor } from '../tensor/tensor.js';
import { cat } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import * as F from '../tensor/functional.js';
import { GroupNorm } from '../nn/layers.js';
import { Linear } from '../nn/linear.js';
import { ModuleDict } from '../nn/module-dict.js';
import { expectModule } from '../nn/module.js';
import { ResampleConv2d } from '../nn/resample-conv2d.js';
import { FourierEmbedding, PositionalEmbedding } from '../nn/noise-embedding.js';
import { UNetBlock, unetGroupNorm, type UNetBlockOptions } from '../nn/unet-block.js';
import type { ParameterOptions, WeightInit } from '../nn/init.js';
import { blockDropout, validateNetworkConfig, type SongUNetConfig } from './config.js';
import { ImageNetwork } from './network.js';

// EDM's initializations for this network.
const INIT: WeightInit = { mode: 'xavier_uniform' };
const INIT_ZERO: WeightInit = { mode: 'xavier_uniform', weightGain: 1e-5 };
const INIT_ATTENTION: WeightInit = { mode: 'xavier_uniform', weightGain: Math.sqrt(0.2) };

export class SongUNet extends ImageNetwork {
  readonly config: SongUNetConfig;
  readonly mapNoise: FourierEmbedding | PositionalEmbedding;
  readonly mapLabel: Linear | null = null;
  readonly mapLayer0: Linear;
  readonly mapLayer1: Linear;
  readonly enc: ModuleDict;
  readonly dec: ModuleDict;

  constructor(config: SongUNetConfig, o: ParameterOptions = {}) {
    super();
    validateNetworkConfig(config);
    this.config = structuredClone(config);
    const c = this.config;
    const embChannels = c.modelChannels * c.channelMultEmb;
    const noiseChannels = c.modelChannels * c.channelMultNoise;
    const block = (inChannels: number, outChannels: number, res: number, extra: Partial<UNetBlockOptions> = {}) =>
      new UNetBlock(
        {
          inChannels,
          outChannels,
          embChannels,
          numHeads: 0,
          dropout: blockDropout(c, res),
          skipScale: Math.SQRT1_2,
          eps: 1e-6,
          resampleFilter: c.resampleFilter,
          resampleProjection: true,
          adaptiveScale: false,
          init: INIT,
          initZero: INIT_ZERO,
          initAttention: INIT_ATTENTION,
          ...extra,
        },
        o,
      );

    // Mapping.
    this.mapNoise = this.registerModule(
      'map_noise',
      c.embeddingType === 'fourier' ? new FourierEmbedding(noiseChannels, c.fourierScale, o) : new PositionalEmbedding(noiseChannels, 10000, true),
    );
    if (c.labelDim > 0) this.mapLabel = this.registerModule('map_label', new Linear(c.labelDim, noiseChannels, { ...o, init: INIT }));
    this.mapLayer0 = this.registerModule('map_layer0', new Linear(noiseChannels, embChannels, { ...o, init: INIT }));
    this.mapLayer1 = this.registerModule('map_layer1', new Linear(embChannels, embChannels, { ...o, init: INIT }));

    // Encoder. skipChannels lists the width of every activation the decoder will concatenate.
    this.enc = this.registerModule('enc', new ModuleDict());
    const skipChannels: number[] = [];
    let cout = c.inChannels;
    let caux = c.inChannels;
    c.channelMult.forEach((mult, level) => {
      const res = c.imgResolution >> level;
      if (level === 0) {
        this.enc.set(`${res}x${res}_conv`, new ResampleConv2d(cout, c.modelChannels, 3, INIT, o));
        cout = c.modelChannels;
      } else {
        this.enc.set(`${res}x${res}_down`, block(cout, cout, res, { down: true }));
        if (c.encoderType === 'skip') {
          this.enc.set(`${res}x${res}_aux_down`, new ResampleConv2d(caux, caux, 0, INIT, { ...o, down: true, resampleFilter: c.resampleFilter }));
          this.enc.set(`${res}x${res}_aux_skip`, new ResampleConv2d(caux, cout, 1, INIT, o));
        }
        if (c.encoderType === 'residual') {
          this.enc.set(
            `${res}x${res}_aux_residual`,
            new ResampleConv2d(caux, cout, 3, INIT, { ...o, down: true, fused: true, resampleFilter: c.resampleFilter }),
          );
          caux = cout;
        }
      }
      skipChannels.push(cout);
      for (let i = 0; i < c.numBlocks; i++) {
        const cin = cout;
        cout = c.modelChannels * mult;
        this.enc.set(`${res}x${res}_block${i}`, block(cin, cout, res, { numHeads: c.attnResolutions.includes(res) ? 1 : 0 }));
        skipChannels.push(cout);
      }
    });

    // Decoder.
    this.dec = this.registerModule('dec', new ModuleDict());
    const levels = c.channelMult.length;
    for (let level = levels - 1; level >= 0; level--) {
      const res = c.imgResolution >> level;
      if (level === levels - 1) {
        this.dec.set(`${res}x${res}_in0`, block(cout, cout, res, { numHeads: 1 }));
        this.dec.set(`${res}x${res}_in1`, block(cout, cout, res));
      } else {
        this.dec.set(`${res}x${res}_up`, block(cout, cout, res, { up: true }));
      }
      for (let i = 0; i <= c.numBlocks; i++) {
        const cin = cout + skipChannels.pop()!;
        cout = c.modelChannels * c.channelMult[level]!;
        const attention = i === c.numBlocks && c.attnResolutions.includes(res);
        this.dec.set(`${res}x${res}_block${i}`, block(cin, cout, res, { numHeads: attention ? 1 : 0 }));
      }
      if (c.decoderType === 'skip' || level === 0) {
        if (c.decoderType === 'skip' && level < levels - 1)
          this.dec.set(
            `${res}x${res}_aux_up`,
            new ResampleConv2d(c.outChannels, c.outChannels, 0, INIT, { ...o, up: true, resampleFilter: c.resampleFilter }),
          );
        this.dec.set(`${res}x${res}_aux_norm`, unetGroupNorm(cout, 1e-6, o));
        this.dec.set(`${res}x${res}_aux_conv`, new ResampleConv2d(cout, c.outChannels, 3, INIT_ZERO, o));
      }
    }
  }

  forward(x: Tensor, noiseLabels: Tensor, classLabels?: Tensor | null): Tensor {
    return tidy(() => {
      const labels = this.checkInputs(x, noiseLabels, classLabels);
      const n = x.shape[0]!;

      // Mapping: [cos, sin] from the embedding is reordered to [sin, cos], as in NCSN++.
      let emb = this.mapNoise.forward(noiseLabels);
      emb = emb.reshape([n, 2, -1]).flip(1).reshape([n, -1]);
      if (this.mapLabel && labels) emb = emb.add(this.mapLabel.forward(labels.mul(Math.sqrt(this.mapLabel.inFeatures))));
      emb = F.silu(this.mapLayer0.forward(emb));
      emb = F.silu(this.mapLayer1.forward(emb));

      // Encoder.
      const skips: Tensor[] = [];
      let aux = x;
      let h = x;
      for (const [name, m] of this.enc.entries()) {
        const path = `enc.${name}`;
        if (name.endsWith('_aux_down')) {
          aux = expectModule(m, ResampleConv2d, path).forward(aux);
        } else if (name.endsWith('_aux_skip')) {
          h = h.add(expectModule(m, ResampleConv2d, path).forward(aux));
          skips[skips.length - 1] = h;
        } else if (name.endsWith('_aux_residual')) {
          h = h.add(expectModule(m, ResampleConv2d, path).forward(aux)).mul(Math.SQRT1_2);
          skips[skips.length - 1] = h;
          aux = h;
        } else {
          h = m instanceof UNetBlock ? m.forward(h, emb) : expectModule(m, ResampleConv2d, path).forward(h);
          skips.push(h);
        }
      }

      // Decoder.
      let out: Tensor | null = null;
      let tmp: Tensor | null = null;
      for (const [name, m] of this.dec.entries()) {
        const path = `dec.${name}`;
        if (name.endsWith('_aux_up')) {
          out = expectModule(m, ResampleConv2d, path).forward(out!);
        } else if (name.endsWith('_aux_norm')) {
          tmp = expectModule(m, GroupNorm, path).forward(h);
        } else if (name.endsWith('_aux_conv')) {
          tmp = expectModule(m, ResampleConv2d, path).forward(F.silu(tmp!));
          out = out ? tmp.add(out) : tmp;
        } else {
          const b = expectModule(m, UNetBlock, path);
          if (h.shape[1] !== b.inChannels) h = cat([h, skips.pop()!], 1);
          h = b.forward(h, emb);
        }
      }
      return out!;
    });
  }
}

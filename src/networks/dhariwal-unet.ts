/**
 * ADM (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs on Image Synthesis"), structured as
 * EDM's DhariwalUNet so that tensor names and layouts match EDM's state dicts. iCT's ImageNet
 * 64x64 network: 192 channels, multipliers (1, 2, 3, 4), 3 blocks per resolution, attention at
 * 32, 16 and 8 with 64 channels per head, scale-shift norm, a 1000-class embedding (docs/method.md
 * section 5). The noise label is embedded with fixed positional frequencies; the ADM convention
 * for c_noise (1000 * 0.25 ln sigma) is the method code's business.
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
import { PositionalEmbedding } from '../nn/noise-embedding.js';
import { UNetBlock, unetGroupNorm, type UNetBlockOptions } from '../nn/unet-block.js';
import type { ParameterOptions, WeightInit } from '../nn/init.js';
import { blockDropout, validateNetworkConfig, type DhariwalUNetConfig } from './config.js';
import { ImageNetwork } from './network.js';

// EDM's initializations for this network: PyTorch's default uniform(+-1/sqrt(fan_in)) for
// weights and biases, zeros for the last conv of every residual branch.
const INIT: WeightInit = { mode: 'kaiming_uniform', weightGain: Math.sqrt(1 / 3), biasGain: Math.sqrt(1 / 3) };
const INIT_ZERO: WeightInit = { mode: 'kaiming_uniform', weightGain: 0, biasGain: 0 };

export class DhariwalUNet extends ImageNetwork {
  readonly config: DhariwalUNetConfig;
  readonly mapNoise: PositionalEmbedding;
  readonly mapLayer0: Linear;
  readonly mapLayer1: Linear;
  readonly mapLabel: Linear | null = null;
  readonly enc: ModuleDict;
  readonly dec: ModuleDict;
  readonly outNorm: GroupNorm;
  readonly outConv: ResampleConv2d;

  constructor(config: DhariwalUNetConfig, o: ParameterOptions = {}) {
    super();
    validateNetworkConfig(config);
    this.config = structuredClone(config);
    const c = this.config;
    const embChannels = c.modelChannels * c.channelMultEmb;
    const block = (inChannels: number, outChannels: number, res: number, attention: boolean, extra: Partial<UNetBlockOptions> = {}) => {
      if (attention && outChannels % c.channelsPerHead !== 0)
        throw new RangeError(`network config: channelsPerHead ${c.channelsPerHead} does not divide the ${outChannels} channels at ${res}x${res}`);
      return new UNetBlock(
        {
          inChannels,
          outChannels,
          embChannels,
          numHeads: attention ? outChannels / c.channelsPerHead : 0,
          dropout: blockDropout(c, res),
          init: INIT,
          initZero: INIT_ZERO,
          ...extra,
        },
        o,
      );
    };

    // Mapping.
    this.mapNoise = this.registerModule('map_noise', new PositionalEmbedding(c.modelChannels, 10000, false));
    this.mapLayer0 = this.registerModule('map_layer0', new Linear(c.modelChannels, embChannels, { ...o, init: INIT }));
    this.mapLayer1 = this.registerModule('map_layer1', new Linear(embChannels, embChannels, { ...o, init: INIT }));
    if (c.labelDim > 0)
      this.mapLabel = this.registerModule(
        'map_label',
        new Linear(c.labelDim, embChannels, { ...o, bias: false, init: { mode: 'kaiming_normal', weightGain: Math.sqrt(c.labelDim) } }),
      );

    // Encoder.
    this.enc = this.registerModule('enc', new ModuleDict());
    const skipChannels: number[] = [];
    let cout = c.inChannels;
    c.channelMult.forEach((mult, level) => {
      const res = c.imgResolution >> level;
      if (level === 0) {
        this.enc.set(`${res}x${res}_conv`, new ResampleConv2d(cout, c.modelChannels * mult, 3, INIT, o));
        cout = c.modelChannels * mult;
      } else {
        this.enc.set(`${res}x${res}_down`, block(cout, cout, res, false, { down: true }));
      }
      skipChannels.push(cout);
      for (let i = 0; i < c.numBlocks; i++) {
        const cin = cout;
        cout = c.modelChannels * mult;
        this.enc.set(`${res}x${res}_block${i}`, block(cin, cout, res, c.attnResolutions.includes(res)));
        skipChannels.push(cout);
      }
    });

    // Decoder.
    this.dec = this.registerModule('dec', new ModuleDict());
    const levels = c.channelMult.length;
    for (let level = levels - 1; level >= 0; level--) {
      const res = c.imgResolution >> level;
      if (level === levels - 1) {
        this.dec.set(`${res}x${res}_in0`, block(cout, cout, res, true));
        this.dec.set(`${res}x${res}_in1`, block(cout, cout, res, false));
      } else {
        this.dec.set(`${res}x${res}_up`, block(cout, cout, res, false, { up: true }));
      }
      for (let i = 0; i <= c.numBlocks; i++) {
        const cin = cout + skipChannels.pop()!;
        cout = c.modelChannels * c.channelMult[level]!;
        this.dec.set(`${res}x${res}_block${i}`, block(cin, cout, res, c.attnResolutions.includes(res)));
      }
    }
    this.outNorm = this.registerModule('out_norm', unetGroupNorm(cout, 1e-5, o));
    this.outConv = this.registerModule('out_conv', new ResampleConv2d(cout, c.outChannels, 3, INIT_ZERO, o));
  }

  forward(x: Tensor, noiseLabels: Tensor, classLabels?: Tensor | null): Tensor {
    return tidy(() => {
      const labels = this.checkInputs(x, noiseLabels, classLabels);

      // Mapping: the class embedding is added before the last SiLU.
      let emb = F.silu(this.mapLayer0.forward(this.mapNoise.forward(noiseLabels)));
      emb = this.mapLayer1.forward(emb);
      if (this.mapLabel && labels) emb = emb.add(this.mapLabel.forward(labels));
      emb = F.silu(emb);

      // Encoder.
      const skips: Tensor[] = [];
      let h = x;
      for (const [name, m] of this.enc.entries()) {
        h = m instanceof UNetBlock ? m.forward(h, emb) : expectModule(m, ResampleConv2d, `enc.${name}`).forward(h);
        skips.push(h);
      }

      // Decoder.
      for (const [name, m] of this.dec.entries()) {
        const b = expectModule(m, UNetBlock, `dec.${name}`);
        if (h.shape[1] !== b.inChannels) h = cat([h, skips.pop()!], 1);
        h = b.forward(h, emb);
      }
      return this.outConv.forward(F.silu(this.outNorm.forward(h)));
    });
  }
}

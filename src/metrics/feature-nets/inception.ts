/**
 * The Inception-v3 network that FID is defined with: TensorFlow's `inception-2015-12-05` graph,
 * in the PyTorch port of pytorch-fid (weights `pt_inception-2015-12-05-6726825d.pth`). Its
 * layout is torchvision's Inception-v3 (module names match, so the .pth loads by name) with the
 * differences of the TF graph:
 *
 * - Mixed_5b/5c/5d (A), Mixed_6b..6e (C) and Mixed_7b (E) average-pool their pool branch without
 *   counting the zero padding (TF's SAME average pooling; torchvision counts it);
 * - Mixed_7c (the second E block) max-pools its pool branch instead of average-pooling;
 * - the classifier `fc` has 1008 outputs (TF's label map), used for the Inception score.
 *
 * Input: images [N, 3, H, W] with values in [0, 1]. They are resized to 299x299 (bilinear,
 * align_corners = false, as pytorch-fid does) and scaled to [-1, 1]. Output: the 2048-d average
 * pool of Mixed_7c ("pool3", the FID features) and, on request, the 1008 logits.
 * BatchNorm runs in inference mode with the running statistics (eps 0.001).
 */
import { Module } from '../../nn/module.js';
import { Tensor } from '../../tensor/tensor.js';
import { randn, ones, zeros, cat } from '../../tensor/creation.js';
import { tidy } from '../../tensor/scope.js';
import { noGrad } from '../../tensor/autograd.js';
import * as F from '../../tensor/functional.js';
import type { Generator } from '../../tensor/random.js';

type Pair = [number, number];
const pair = (v: number | Pair): Pair => (typeof v === 'number' ? [v, v] : v);

/** Average pooling that leaves the zero padding out of each mean (TF's SAME pooling). */
export function avgPool2dExcludePad(x: Tensor, kernel: number, stride: number, padding: number): Tensor {
  return F.avgPool2d(x, kernel, stride, padding, { countIncludePad: false });
}

export interface InceptionInitOptions {
  /**
   * Draws random initial weights (He-normal convolutions), for tests and benchmarks. Without it
   * the weights start at zero (quick to allocate), to be replaced by loadFidStateDict.
   */
  generator?: Generator | undefined;
  device?: string | undefined;
}

/** Inference-mode BatchNorm2d with PyTorch's parameter and buffer names. */
class BatchNorm2d extends Module {
  constructor(
    channels: number,
    readonly eps: number,
    o: InceptionInitOptions,
  ) {
    super();
    this.registerParameter('weight', ones([channels], { device: o.device }));
    this.registerParameter('bias', zeros([channels], { device: o.device }));
    this.registerBuffer('running_mean', zeros([channels], { device: o.device }));
    this.registerBuffer('running_var', ones([channels], { device: o.device }));
  }
  forward(x: Tensor): Tensor {
    return F.batchNorm(x, this.tensor('running_mean'), this.tensor('running_var'), this.tensor('weight'), this.tensor('bias'), false, 0, this.eps);
  }
}

/** A bias-free convolution with a possibly rectangular kernel. */
class ConvNoBias extends Module {
  constructor(
    inC: number,
    outC: number,
    kernel: Pair,
    readonly stride: Pair,
    readonly padding: Pair,
    o: InceptionInitOptions,
  ) {
    super();
    const fanIn = inC * kernel[0] * kernel[1];
    const shape = [outC, inC, kernel[0], kernel[1]];
    this.registerParameter(
      'weight',
      o.generator
        ? tidy(() => randn(shape, { generator: o.generator, device: o.device }).mul(Math.sqrt(2 / fanIn)))
        : zeros(shape, { device: o.device }),
    );
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.tensor('weight'), null, { stride: this.stride, padding: this.padding });
  }
}

/** conv (no bias) -> BatchNorm (eps 0.001) -> ReLU: torchvision's BasicConv2d. */
class BasicConv2d extends Module {
  readonly conv: ConvNoBias;
  readonly bn: BatchNorm2d;
  constructor(inC: number, outC: number, kernel: number | Pair, o: InceptionInitOptions, stride: number | Pair = 1, padding: number | Pair = 0) {
    super();
    this.conv = this.registerModule('conv', new ConvNoBias(inC, outC, pair(kernel), pair(stride), pair(padding), o));
    this.bn = this.registerModule('bn', new BatchNorm2d(outC, 0.001, o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => this.bn.forward(this.conv.forward(x)).relu());
  }
}

/** 35x35 block (Mixed_5b/c/d): 1x1, 5x5, double 3x3 and pool branches. */
class InceptionA extends Module {
  readonly branch1x1;
  readonly branch5x5_1;
  readonly branch5x5_2;
  readonly branch3x3dbl_1;
  readonly branch3x3dbl_2;
  readonly branch3x3dbl_3;
  readonly branch_pool;
  constructor(inC: number, poolFeatures: number, o: InceptionInitOptions) {
    super();
    this.branch1x1 = this.registerModule('branch1x1', new BasicConv2d(inC, 64, 1, o));
    this.branch5x5_1 = this.registerModule('branch5x5_1', new BasicConv2d(inC, 48, 1, o));
    this.branch5x5_2 = this.registerModule('branch5x5_2', new BasicConv2d(48, 64, 5, o, 1, 2));
    this.branch3x3dbl_1 = this.registerModule('branch3x3dbl_1', new BasicConv2d(inC, 64, 1, o));
    this.branch3x3dbl_2 = this.registerModule('branch3x3dbl_2', new BasicConv2d(64, 96, 3, o, 1, 1));
    this.branch3x3dbl_3 = this.registerModule('branch3x3dbl_3', new BasicConv2d(96, 96, 3, o, 1, 1));
    this.branch_pool = this.registerModule('branch_pool', new BasicConv2d(inC, poolFeatures, 1, o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() =>
      cat(
        [
          this.branch1x1.forward(x),
          this.branch5x5_2.forward(this.branch5x5_1.forward(x)),
          this.branch3x3dbl_3.forward(this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x))),
          this.branch_pool.forward(avgPool2dExcludePad(x, 3, 1, 1)),
        ],
        1,
      ),
    );
  }
}

/** Grid reduction 35 -> 17 (Mixed_6a). */
class InceptionB extends Module {
  readonly branch3x3;
  readonly branch3x3dbl_1;
  readonly branch3x3dbl_2;
  readonly branch3x3dbl_3;
  constructor(inC: number, o: InceptionInitOptions) {
    super();
    this.branch3x3 = this.registerModule('branch3x3', new BasicConv2d(inC, 384, 3, o, 2));
    this.branch3x3dbl_1 = this.registerModule('branch3x3dbl_1', new BasicConv2d(inC, 64, 1, o));
    this.branch3x3dbl_2 = this.registerModule('branch3x3dbl_2', new BasicConv2d(64, 96, 3, o, 1, 1));
    this.branch3x3dbl_3 = this.registerModule('branch3x3dbl_3', new BasicConv2d(96, 96, 3, o, 2));
  }
  forward(x: Tensor): Tensor {
    return tidy(() =>
      cat(
        [this.branch3x3.forward(x), this.branch3x3dbl_3.forward(this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x))), F.maxPool2d(x, 3, 2)],
        1,
      ),
    );
  }
}

/** 17x17 block with factorized 7x7 convolutions (Mixed_6b..6e). */
class InceptionC extends Module {
  readonly branch1x1;
  readonly branch7x7_1;
  readonly branch7x7_2;
  readonly branch7x7_3;
  readonly branch7x7dbl_1;
  readonly branch7x7dbl_2;
  readonly branch7x7dbl_3;
  readonly branch7x7dbl_4;
  readonly branch7x7dbl_5;
  readonly branch_pool;
  constructor(inC: number, c7: number, o: InceptionInitOptions) {
    super();
    const row: Pair = [1, 7];
    const col: Pair = [7, 1];
    this.branch1x1 = this.registerModule('branch1x1', new BasicConv2d(inC, 192, 1, o));
    this.branch7x7_1 = this.registerModule('branch7x7_1', new BasicConv2d(inC, c7, 1, o));
    this.branch7x7_2 = this.registerModule('branch7x7_2', new BasicConv2d(c7, c7, row, o, 1, [0, 3]));
    this.branch7x7_3 = this.registerModule('branch7x7_3', new BasicConv2d(c7, 192, col, o, 1, [3, 0]));
    this.branch7x7dbl_1 = this.registerModule('branch7x7dbl_1', new BasicConv2d(inC, c7, 1, o));
    this.branch7x7dbl_2 = this.registerModule('branch7x7dbl_2', new BasicConv2d(c7, c7, col, o, 1, [3, 0]));
    this.branch7x7dbl_3 = this.registerModule('branch7x7dbl_3', new BasicConv2d(c7, c7, row, o, 1, [0, 3]));
    this.branch7x7dbl_4 = this.registerModule('branch7x7dbl_4', new BasicConv2d(c7, c7, col, o, 1, [3, 0]));
    this.branch7x7dbl_5 = this.registerModule('branch7x7dbl_5', new BasicConv2d(c7, 192, row, o, 1, [0, 3]));
    this.branch_pool = this.registerModule('branch_pool', new BasicConv2d(inC, 192, 1, o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const b7 = this.branch7x7_3.forward(this.branch7x7_2.forward(this.branch7x7_1.forward(x)));
      let d = this.branch7x7dbl_1.forward(x);
      for (const m of [this.branch7x7dbl_2, this.branch7x7dbl_3, this.branch7x7dbl_4, this.branch7x7dbl_5]) d = m.forward(d);
      return cat([this.branch1x1.forward(x), b7, d, this.branch_pool.forward(avgPool2dExcludePad(x, 3, 1, 1))], 1);
    });
  }
}

/** Grid reduction 17 -> 8 (Mixed_7a). */
class InceptionD extends Module {
  readonly branch3x3_1;
  readonly branch3x3_2;
  readonly branch7x7x3_1;
  readonly branch7x7x3_2;
  readonly branch7x7x3_3;
  readonly branch7x7x3_4;
  constructor(inC: number, o: InceptionInitOptions) {
    super();
    this.branch3x3_1 = this.registerModule('branch3x3_1', new BasicConv2d(inC, 192, 1, o));
    this.branch3x3_2 = this.registerModule('branch3x3_2', new BasicConv2d(192, 320, 3, o, 2));
    this.branch7x7x3_1 = this.registerModule('branch7x7x3_1', new BasicConv2d(inC, 192, 1, o));
    this.branch7x7x3_2 = this.registerModule('branch7x7x3_2', new BasicConv2d(192, 192, [1, 7], o, 1, [0, 3]));
    this.branch7x7x3_3 = this.registerModule('branch7x7x3_3', new BasicConv2d(192, 192, [7, 1], o, 1, [3, 0]));
    this.branch7x7x3_4 = this.registerModule('branch7x7x3_4', new BasicConv2d(192, 192, 3, o, 2));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const b3 = this.branch3x3_2.forward(this.branch3x3_1.forward(x));
      let b7 = this.branch7x7x3_1.forward(x);
      for (const m of [this.branch7x7x3_2, this.branch7x7x3_3, this.branch7x7x3_4]) b7 = m.forward(b7);
      return cat([b3, b7, F.maxPool2d(x, 3, 2)], 1);
    });
  }
}

/** 8x8 block with expanded filter banks (Mixed_7b with average pooling, Mixed_7c with max pooling). */
class InceptionE extends Module {
  readonly branch1x1;
  readonly branch3x3_1;
  readonly branch3x3_2a;
  readonly branch3x3_2b;
  readonly branch3x3dbl_1;
  readonly branch3x3dbl_2;
  readonly branch3x3dbl_3a;
  readonly branch3x3dbl_3b;
  readonly branch_pool;
  constructor(
    inC: number,
    readonly pool: 'avg' | 'max',
    o: InceptionInitOptions,
  ) {
    super();
    this.branch1x1 = this.registerModule('branch1x1', new BasicConv2d(inC, 320, 1, o));
    this.branch3x3_1 = this.registerModule('branch3x3_1', new BasicConv2d(inC, 384, 1, o));
    this.branch3x3_2a = this.registerModule('branch3x3_2a', new BasicConv2d(384, 384, [1, 3], o, 1, [0, 1]));
    this.branch3x3_2b = this.registerModule('branch3x3_2b', new BasicConv2d(384, 384, [3, 1], o, 1, [1, 0]));
    this.branch3x3dbl_1 = this.registerModule('branch3x3dbl_1', new BasicConv2d(inC, 448, 1, o));
    this.branch3x3dbl_2 = this.registerModule('branch3x3dbl_2', new BasicConv2d(448, 384, 3, o, 1, 1));
    this.branch3x3dbl_3a = this.registerModule('branch3x3dbl_3a', new BasicConv2d(384, 384, [1, 3], o, 1, [0, 1]));
    this.branch3x3dbl_3b = this.registerModule('branch3x3dbl_3b', new BasicConv2d(384, 384, [3, 1], o, 1, [1, 0]));
    this.branch_pool = this.registerModule('branch_pool', new BasicConv2d(inC, 192, 1, o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const b3 = this.branch3x3_1.forward(x);
      const d = this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x));
      // pytorch-fid: the TF graph's last block max-pools here (FIDInceptionE_2).
      const pooled = this.pool === 'avg' ? avgPool2dExcludePad(x, 3, 1, 1) : F.maxPool2d(x, 3, 1, 1);
      return cat(
        [
          this.branch1x1.forward(x),
          this.branch3x3_2a.forward(b3),
          this.branch3x3_2b.forward(b3),
          this.branch3x3dbl_3a.forward(d),
          this.branch3x3dbl_3b.forward(d),
          this.branch_pool.forward(pooled),
        ],
        1,
      );
    });
  }
}

/** What the network returns: pool3 features and, when asked for, the 1008 logits. */
export interface InceptionOutputs {
  /** [N, 2048] average-pooled Mixed_7c activations (the FID features). */
  pool: Tensor;
  /** [N, 1008] fc(pool) with bias, or null when not requested. */
  logits: Tensor | null;
}

/** Names of the FID Inception's state dict that the network does not use (BatchNorm step counters). */
export function isUnusedInceptionKey(name: string): boolean {
  return name.endsWith('.num_batches_tracked');
}

/** The 1008-way classifier. */
class FcLayer extends Module {
  constructor(inF: number, outF: number, o: InceptionInitOptions) {
    super();
    this.registerParameter(
      'weight',
      o.generator
        ? tidy(() => randn([outF, inF], { generator: o.generator, device: o.device }).mul(1 / Math.sqrt(inF)))
        : zeros([outF, inF], { device: o.device }),
    );
    this.registerParameter('bias', zeros([outF], { device: o.device }));
  }
  get weight(): Tensor {
    return this.tensor('weight');
  }
  get bias(): Tensor {
    return this.tensor('bias');
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

type MixedBlock = InceptionA | InceptionB | InceptionC | InceptionD | InceptionE;

export class FidInceptionV3 extends Module {
  /** The input side length the network was trained at. */
  static readonly inputSize = 299;
  readonly stem: [BasicConv2d, BasicConv2d, BasicConv2d, BasicConv2d, BasicConv2d];
  readonly mixed: MixedBlock[];
  readonly fc: FcLayer;
  constructor(o: InceptionInitOptions = {}) {
    super();
    const m = <M extends Module>(name: string, mod: M): M => this.registerModule(name, mod);
    this.stem = [
      m('Conv2d_1a_3x3', new BasicConv2d(3, 32, 3, o, 2)),
      m('Conv2d_2a_3x3', new BasicConv2d(32, 32, 3, o)),
      m('Conv2d_2b_3x3', new BasicConv2d(32, 64, 3, o, 1, 1)),
      m('Conv2d_3b_1x1', new BasicConv2d(64, 80, 1, o)),
      m('Conv2d_4a_3x3', new BasicConv2d(80, 192, 3, o)),
    ];
    this.mixed = [
      m('Mixed_5b', new InceptionA(192, 32, o)),
      m('Mixed_5c', new InceptionA(256, 64, o)),
      m('Mixed_5d', new InceptionA(288, 64, o)),
      m('Mixed_6a', new InceptionB(288, o)),
      m('Mixed_6b', new InceptionC(768, 128, o)),
      m('Mixed_6c', new InceptionC(768, 160, o)),
      m('Mixed_6d', new InceptionC(768, 160, o)),
      m('Mixed_6e', new InceptionC(768, 192, o)),
      m('Mixed_7a', new InceptionD(768, o)),
      m('Mixed_7b', new InceptionE(1280, 'avg', o)),
      m('Mixed_7c', new InceptionE(2048, 'max', o)),
    ];
    this.fc = m('fc', new FcLayer(2048, 1008, o));
    this.eval();
  }

  /**
   * Features of images [N, 3, H, W] in [0, 1] (any size; resized to 299x299). No gradients are
   * recorded. `logits`: also compute the 1008 class logits.
   */
  forward(images: Tensor, options: { logits?: boolean } = {}): InceptionOutputs {
    if (images.rank !== 4 || images.shape[1] !== 3)
      throw new RangeError(`FidInceptionV3: images must be [N, 3, H, W], got [${images.shape.join(', ')}]`);
    return noGrad(() =>
      tidy(() => {
        const s = FidInceptionV3.inputSize;
        let x = F.interpolate(images.toDtype('float32'), { size: [s, s], mode: 'bilinear', alignCorners: false });
        x = x.mul(2).sub(1);
        const [c1a, c2a, c2b, c3b, c4a] = this.stem;
        x = F.maxPool2d(c2b.forward(c2a.forward(c1a.forward(x))), 3, 2);
        x = F.maxPool2d(c4a.forward(c3b.forward(x)), 3, 2);
        for (const block of this.mixed) x = block.forward(x);
        const pool = F.adaptiveAvgPool2d(x, 1).flatten(1);
        const logits = options.logits ? this.fc.forward(pool) : null;
        return { pool, logits };
      }),
    );
  }

  /** fc.weight [1008, 2048] and fc.bias [1008] (the original IS code uses the weight only). */
  get fcWeight(): Tensor {
    return this.fc.weight;
  }
  get fcBias(): Tensor {
    return this.fc.bias;
  }

  /**
   * Loads the pytorch-fid state dict (names as in torchvision's Inception3; BatchNorm step
   * counters are ignored). Errors name missing, extra or mis-shaped tensors.
   */
  loadFidStateDict(state: Map<string, Tensor>): void {
    const used = new Map([...state].filter(([k]) => !isUnusedInceptionKey(k)));
    this.loadStateDict(used);
  }
}

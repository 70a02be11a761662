/**
 * Small networks for the method tests (no tests here).
 *
 * TinyConvNet: conv3x3 -> + noise embedding + class embedding -> SiLU -> dropout -> conv3x3, the
 * same network as test/reference/method_ref.py writes in Python torch.
 */
import { Tensor, tidy, nnf, rand, type Generator } from '../src/tensor/index.js';
import { Module } from '../src/nn/module.js';
import { Conv2d, Dropout } from '../src/nn/layers.js';
import { Linear } from '../src/nn/linear.js';

export interface TinyConvNetOptions {
  channels?: number;
  hidden?: number;
  classes?: number;
  dropout?: number;
  init?: Generator;
}

export class TinyConvNet extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly noiseEmb: Linear;
  readonly drop: Dropout;
  readonly hidden: number;

  constructor(o: TinyConvNetOptions = {}) {
    super();
    const channels = o.channels ?? 3;
    this.hidden = o.hidden ?? 8;
    const init = { generator: o.init };
    this.conv1 = this.registerModule('conv1', new Conv2d(channels, this.hidden, 3, { padding: 1, ...init }));
    this.conv2 = this.registerModule('conv2', new Conv2d(this.hidden, channels, 3, { padding: 1, ...init }));
    this.noiseEmb = this.registerModule('noiseEmb', new Linear(1, this.hidden, init));
    this.registerParameter(
      'classEmb',
      tidy(() => rand([o.classes ?? 4, this.hidden], { generator: o.init }).sub(0.5)),
    );
    this.drop = this.registerModule('drop', new Dropout(o.dropout ?? 0.3));
  }

  forward(x: Tensor, noiseLabels: Tensor, classLabels?: Tensor): Tensor {
    return tidy(() => {
      const n = x.shape[0]!;
      const e = nnf.silu(this.noiseEmb.forward(noiseLabels.reshape([n, 1])));
      let h = this.conv1.forward(x).add(e.reshape([n, this.hidden, 1, 1]));
      if (classLabels) h = h.add(nnf.embedding(this.tensor('classEmb'), classLabels).reshape([n, this.hidden, 1, 1]));
      h = this.drop.forward(nnf.silu(h));
      return this.conv2.forward(h);
    });
  }
}

/** A network that records what each forward saw (for tests of the loss's two passes). */
export class RecordingNet extends Module {
  readonly calls: { x: Float32Array; noiseLabels: Float32Array; requiresGradOut: boolean }[] = [];
  constructor(readonly inner: Module & { forward(x: Tensor, n: Tensor, c?: Tensor): Tensor }) {
    super();
    this.registerModule('inner', inner);
  }
  forward(x: Tensor, noiseLabels: Tensor, classLabels?: Tensor): Tensor {
    const out = this.inner.forward(x, noiseLabels, classLabels);
    this.calls.push({ x: x.toFloat32Array(), noiseLabels: noiseLabels.toFloat32Array(), requiresGradOut: out.requiresGrad });
    return out;
  }
}

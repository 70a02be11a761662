/**
 * Channels-last memory format (--channels-last): Tensor.channelsLast() and Module.channelsLast()
 * against Python torch's memory_format=torch.channels_last (test/reference/channels_last_ref.py):
 * the U-Net's ops keep channels-last inputs channels-last exactly as torch does on the same
 * libtorch, the convolution's values match torch's, and a whole preset network gives the same
 * outputs and gradients in either layout, its parameter names and leaf status unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Generator, arange, nnf, randn, setNumThreads, tidy, full, type Tensor } from '../src/tensor/index.js';
import { unconditionalNetwork } from './helpers/presets.js';
import { runPythonScript } from './helpers/python.js';

setNumThreads(1);

interface Ref {
  conv2d: boolean;
  groupNorm: boolean;
  silu: boolean;
  add: boolean;
  upsample: boolean;
  avgPool: boolean;
  y: number[];
}
const ref = JSON.parse(runPythonScript('test/reference/channels_last_ref.py')) as Ref;

function wave(n: number, f: 'sin' | 'cos', a: number, scale: number): Tensor {
  const t = arange(n).mul(a);
  return (f === 'sin' ? t.sin() : t.cos()).div(scale);
}

test('channels-last tensors: same shape and values, NHWC layout, and the ops keep it as torch does', () => {
  tidy(() => {
    const x0 = wave(2 * 8 * 6 * 6, 'sin', 0.13, 1).reshape([2, 8, 6, 6]);
    const x = x0.channelsLast();
    assert.deepEqual(x.shape, [2, 8, 6, 6]);
    assert.equal(x0.isChannelsLast, false);
    assert.equal(x.isChannelsLast, true);
    assert.deepEqual(Array.from(x.dataSync() as Float32Array), Array.from(x0.dataSync() as Float32Array), 'values unchanged');
    const w = wave(8 * 8 * 3 * 3, 'cos', 0.07, 8)
      .reshape([8, 8, 3, 3])
      .channelsLast();
    const y = nnf.conv2d(x, w, null, { padding: 1 });
    const got = {
      conv2d: y.isChannelsLast,
      groupNorm: nnf.groupNorm(y, 4).isChannelsLast,
      silu: nnf.silu(y).isChannelsLast,
      add: y.add(x).isChannelsLast,
      upsample: nnf.interpolate(y, { scaleFactor: 2 }).isChannelsLast,
      avgPool: nnf.avgPool2d(y, 2).isChannelsLast,
    };
    const { y: refY, ...refFlags } = ref;
    assert.deepEqual(got, refFlags);
    assert.equal(got.conv2d, true, 'a channels-last convolution gives a channels-last output');
    const values = y.dataSync() as Float32Array;
    let err = 0;
    refY.forEach((v, i) => (err = Math.max(err, Math.abs(values[i]! - v))));
    assert.ok(err < 1e-5, `conv2d values vs torch: max error ${err}`);
  });
});

test('Module.channelsLast(): the (unconditional) mnist-quick network gives the same outputs and gradients; 4-D weights become NHWC leaves', () => {
  const make = () => unconditionalNetwork('mnist-quick', { generator: new Generator(3) });
  const plain = make();
  const nhwc = make().channelsLast();
  try {
    const plainParams = plain.namedParameters();
    const nhwcParams = nhwc.namedParameters();
    assert.deepEqual([...nhwcParams.keys()], [...plainParams.keys()], 'names unchanged');
    let conv = 0;
    for (const [name, p] of nhwcParams) {
      assert.equal(p.isLeaf && p.requiresGrad, true, `${name} stays a trainable leaf`);
      if (p.rank === 4 && !plainParams.get(name)!.isChannelsLast) {
        assert.equal(p.isChannelsLast, true, `${name} is channels-last`);
        conv++;
      }
    }
    assert.ok(conv > 5, `convolution weights re-laid: ${conv}`);
    const lossOf = (net: typeof plain, channelsLast: boolean) =>
      tidy(() => {
        net.eval();
        const g = new Generator(5);
        let x = randn([2, 1, 28, 28], { generator: g });
        if (channelsLast) x = x.channelsLast();
        const out = net.forward(x, full([2], 0.3));
        if (channelsLast) assert.equal(out.isChannelsLast, true, 'the output stays channels-last');
        const loss = out.pow(2).mean();
        loss.backward();
        return loss.item();
      });
    const a = lossOf(plain, false);
    const b = lossOf(nhwc, true);
    assert.ok(Math.abs(a - b) < 1e-5 * Math.abs(a), `loss ${a} vs ${b}`);
    for (const [name, p] of plainParams) {
      tidy(() => {
        const ga = p.grad!;
        const gb = nhwcParams.get(name)!.grad!;
        const scale = ga.abs().max().item() + 1e-12;
        const err = ga.sub(gb).abs().max().item() / scale;
        assert.ok(err < 1e-4, `${name}: gradient differs by ${err}`);
      });
    }
  } finally {
    plain.dispose();
    nhwc.dispose();
  }
});

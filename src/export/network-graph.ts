/**
 * The ONNX nodes of each layer the two U-Nets are made of, keyed on the layer classes of src/nn and
 * src/networks (a visitor, so the layers themselves carry no export code). Every emitter mirrors its
 * layer's forward in eval mode (dropout off) with op forms both onnxruntime-web backends run:
 * GroupNorm decomposed into ReduceMean arithmetic, attention as MatMul/Softmax, FIR up- and
 * downsampling as grouped Conv (upsampling as its two polyphase Convs interleaved by DepthToSpace).
 */
import type { Tensor } from '../tensor/tensor.js';
import { arange } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { Module, expectModule } from '../nn/module.js';
import { GroupNorm } from '../nn/layers.js';
import { Linear } from '../nn/linear.js';
import { ResampleConv2d } from '../nn/resample-conv2d.js';
import { FourierEmbedding, PositionalEmbedding } from '../nn/noise-embedding.js';
import { UNetBlock } from '../nn/unet-block.js';
import { SongUNet } from '../networks/song-unet.js';
import { DhariwalUNet } from '../networks/dhariwal-unet.js';
import type { ImageNetwork } from '../networks/network.js';
import type { OnnxGraph } from './onnx-graph.js';

/** The module's own tensor `local` (a parameter or buffer) as a graph weight named `path.local`. */
function tensorOf(g: OnnxGraph, m: Module, path: string, local: string): string {
  const t: Tensor | undefined = m.namedParameters().get(local) ?? m.namedBuffers().get(local);
  if (!t) throw new Error(`onnx export: ${m.constructor.name} at '${path}' has no tensor '${local}'`);
  return weightFrom(g, `${path}.${local}`, t);
}

/** A libtorch tensor as a graph weight (float32 values, and float16 bytes when the graph stores float16). */
function weightFrom(g: OnnxGraph, name: string, t: Tensor): string {
  const values = t.toFloat32Array();
  const half = g.weightStorage === 'float16' ? tidy(() => t.toDtype('float16').bytes()) : undefined;
  return g.weight(name, values, t.shape, half);
}

function silu(g: OnnxGraph, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])], {}, 'silu');
}

/** x [N, in] -> [N, out] = x W^T + b. */
export function emitLinear(g: OnnxGraph, m: Linear, path: string, x: string): string {
  const inputs = [x, tensorOf(g, m, path, 'weight')];
  if (m.hasBias) inputs.push(tensorOf(g, m, path, 'bias'));
  return g.op('Gemm', inputs, { transB: 1 }, path);
}

/**
 * GroupNorm as ReduceMean arithmetic (GroupNormalization is opset 18+ and absent from some web
 * backends): per (sample, group), (x - mean) / sqrt(biased variance + eps), then the affine.
 */
export function emitGroupNorm(g: OnnxGraph, m: GroupNorm, path: string, x: string): string {
  const grouped = g.op('Reshape', [x, g.constInt64([0, m.numGroups, -1])]);
  const centered = g.op('Sub', [grouped, g.reduceMean(grouped, [2])]);
  const variance = g.reduceMean(g.op('Mul', [centered, centered]), [2]);
  const normed = g.op('Div', [centered, g.op('Sqrt', [g.op('Add', [variance, g.constFloat([m.eps], [])])])]);
  const back = g.op('Reshape', [normed, g.op('Shape', [x])]);
  const perChannel = (local: string): string => g.op('Reshape', [tensorOf(g, m, path, local), g.constInt64([1, m.numChannels, 1, 1])]);
  return g.op('Add', [g.op('Mul', [back, perChannel('weight')]), perChannel('bias')], {}, path);
}

/** The normalized 2-D FIR filter [k, k] of a resampling layer, as its buffer holds it. */
function filterValues(m: ResampleConv2d, path: string): Float32Array {
  const f = m.namedBuffers().get('resample_filter');
  if (!f) throw new Error(`onnx export: ResampleConv2d at '${path}' has no resample_filter`);
  return f.toFloat32Array();
}

/** The filter repeated for a depthwise Conv over `channels` channels: [channels, 1, k, k]. */
function depthwiseFilter(g: OnnxGraph, m: ResampleConv2d, path: string, channels: number): string {
  const f = filterValues(m, path);
  const k = m.filterSize;
  const w = new Float32Array(channels * k * k);
  for (let c = 0; c < channels; c++) w.set(f, c * k * k);
  return g.constFloat(w, [channels, 1, k, k]);
}

/**
 * 2x FIR upsampling (ResampleConv2d's firUpsample2x, i.e. conv_transpose2d with 4 outer(a, a) / sum(a)^2,
 * stride 2) as one depthwise Conv with 4 outputs per channel, output phase (r, s) of pixel (i, j)
 * gathering taps j' = r + padding (mod 2) at input offsets (r + padding - j') / 2, then DepthToSpace
 * (CRD: channel c * 4 + 2 r + s goes to pixel (2 i + r, 2 j + s)).
 */
function emitFirUpsample(g: OnnxGraph, m: ResampleConv2d, x: string, channels: number): string {
  const taps = m.taps;
  const sum = taps.reduce((a, b) => a + b, 0);
  const gains = taps.map((t) => (2 * t) / sum);
  const padding = Math.floor((m.filterSize - 1) / 2);
  const phases: Array<Array<[gain: number, offset: number]>> = [[], []];
  for (const r of [0, 1] as const)
    for (let j = 0; j < gains.length; j++) if ((j - r - padding) % 2 === 0) phases[r]!.push([gains[j]!, (r + padding - j) / 2]);
  const offsets = phases.flat().map(([, o]) => o);
  const before = -Math.min(...offsets);
  const after = Math.max(...offsets);
  const length = before + after + 1;
  // 1-D kernels of the two phases over the offsets [-before, after].
  const kernel1d = phases.map((terms) => {
    const k = new Array<number>(length).fill(0);
    for (const [gain, offset] of terms) k[offset + before] = (k[offset + before] ?? 0) + gain;
    return k;
  });
  const w = new Float32Array(channels * 4 * length * length);
  for (let c = 0; c < channels; c++)
    for (let r = 0; r < 2; r++)
      for (let s = 0; s < 2; s++)
        for (let u = 0; u < length; u++)
          for (let v = 0; v < length; v++) w[((c * 4 + r * 2 + s) * length + u) * length + v] = kernel1d[r]![u]! * kernel1d[s]![v]!;
  const phased = g.op('Conv', [x, g.constFloat(w, [channels * 4, 1, length, length])], {
    group: channels,
    kernel_shape: [length, length],
    pads: [before, before, after, after],
  });
  return g.op('DepthToSpace', [phased], { blocksize: 2, mode: 'CRD' });
}

/** ResampleConv2d: optional FIR resampling and a square convolution with bias, as its forward orders them. */
export function emitResampleConv2d(g: OnnxGraph, m: ResampleConv2d, path: string, x: string): string {
  const w = m.hasWeight ? tensorOf(g, m, path, 'weight') : null;
  const b = m.hasBias ? tensorOf(g, m, path, 'bias') : null;
  const wPad = m.hasWeight ? Math.floor(m.kernel / 2) : 0;
  const fPad = m.up || m.down ? Math.floor((m.filterSize - 1) / 2) : 0;
  const k = m.filterSize;
  const conv = (input: string, weight: string, bias: string | null, kernel: number, pad: number, stride: number, group: number): string =>
    g.op(
      'Conv',
      bias ? [input, weight, bias] : [input, weight],
      { group, kernel_shape: [kernel, kernel], pads: [pad, pad, pad, pad], strides: [stride, stride] },
      path,
    );
  if (m.fused && m.down && w) {
    const y = conv(x, w, null, m.kernel, wPad + fPad, 1, 1);
    return conv(y, depthwiseFilter(g, m, path, m.outChannels), b, k, 0, 2, m.outChannels);
  }
  let y = x;
  if (m.up) y = emitFirUpsample(g, m, y, m.inChannels);
  if (m.down) y = conv(y, depthwiseFilter(g, m, path, m.inChannels), null, k, fPad, 2, m.inChannels);
  if (w) y = conv(y, w, b, m.kernel, wPad, 1, 1);
  return y;
}

/** c_noise [N] -> [N, C]: [cos, sin] of the angles (or [sin, cos], NCSN++'s order after its flip). */
export function emitNoiseEmbedding(
  g: OnnxGraph,
  m: FourierEmbedding | PositionalEmbedding,
  path: string,
  t: string,
  order: 'cos-sin' | 'sin-cos',
): string {
  // The frequencies exactly as the layer's forward computes them in float32.
  const freqs =
    m instanceof FourierEmbedding
      ? tidy(() =>
          m
            .namedBuffers()
            .get('freqs')!
            .mul(2 * Math.PI)
            .toFloat32Array(),
        )
      : tidy(() => {
          const half = m.numChannels / 2;
          return arange(0, half, 1)
            .div(half - (m.endpoint ? 1 : 0))
            .rpow(1 / m.maxPositions)
            .toFloat32Array();
        });
  const column = g.op('Unsqueeze', [t, g.constInt64([1])]);
  const angles = g.op('Mul', [column, g.constFloat(freqs, [1, freqs.length])], {}, `${path}.angles`);
  const cos = g.op('Cos', [angles]);
  const sin = g.op('Sin', [angles]);
  return g.op('Concat', order === 'cos-sin' ? [cos, sin] : [sin, cos], { axis: 1 }, path);
}

/** Self-attention of a UNetBlock over the H*W positions (MatMul/Softmax; qkv laid out as (head, channel, q/k/v)). */
function emitAttention(g: OnnxGraph, m: UNetBlock, path: string, h: string, resolution: number): string {
  const c = m.outChannels;
  const heads = m.numHeads;
  const perHead = c / heads;
  const positions = resolution * resolution;
  const qkv = emitResampleConv2d(g, m.qkv!, `${path}.qkv`, emitGroupNorm(g, m.norm2!, `${path}.norm2`, h));
  const split = g.op('Reshape', [qkv, g.constInt64([-1, perHead, 3, positions])]);
  const pick = (i: number, perm: number[]): string => g.op('Transpose', [g.op('Gather', [split, g.constInt64([i], [])], { axis: 2 })], { perm });
  const q = pick(0, [0, 2, 1]); // [N heads, positions, perHead]
  const kT = pick(1, [0, 1, 2]); // [N heads, perHead, positions]
  const v = pick(2, [0, 2, 1]);
  const scores = g.op('Mul', [g.op('MatMul', [q, kT]), g.constFloat([1 / Math.sqrt(perHead)], [])]);
  const weights = g.op('Softmax', [scores], { axis: -1 });
  const a = g.op('Transpose', [g.op('MatMul', [weights, v])], { perm: [0, 2, 1] });
  const merged = g.op('Reshape', [a, g.constInt64([-1, c, resolution, resolution])]);
  const out = g.op('Add', [emitResampleConv2d(g, m.proj!, `${path}.proj`, merged), h]);
  return m.skipScale !== 1 ? g.op('Mul', [out, g.constFloat([m.skipScale], [])]) : out;
}

/** A residual block (UNetBlock.forward in eval mode); `resolution` is its output's side. */
export function emitUNetBlock(g: OnnxGraph, m: UNetBlock, path: string, x: string, emb: string, resolution: number): string {
  let h = emitResampleConv2d(g, m.conv0, `${path}.conv0`, silu(g, emitGroupNorm(g, m.norm0, `${path}.norm0`, x)));
  const params = g.op('Reshape', [emitLinear(g, m.affine, `${path}.affine`, emb), g.constInt64([0, -1, 1, 1])]);
  if (m.adaptiveScale) {
    const c = m.outChannels;
    const scale = g.op('Slice', [params, g.constInt64([0]), g.constInt64([c]), g.constInt64([1])]);
    const shift = g.op('Slice', [params, g.constInt64([c]), g.constInt64([2 * c]), g.constInt64([1])]);
    const normed = emitGroupNorm(g, m.norm1, `${path}.norm1`, h);
    h = silu(g, g.op('Add', [shift, g.op('Mul', [normed, g.op('Add', [scale, g.constFloat([1], [])])])]));
  } else {
    h = silu(g, emitGroupNorm(g, m.norm1, `${path}.norm1`, g.op('Add', [h, params])));
  }
  h = emitResampleConv2d(g, m.conv1, `${path}.conv1`, h);
  h = g.op('Add', [h, m.skip ? emitResampleConv2d(g, m.skip, `${path}.skip`, x) : x]);
  if (m.skipScale !== 1) h = g.op('Mul', [h, g.constFloat([m.skipScale], [])]);
  if (m.numHeads > 0) h = emitAttention(g, m, path, h, resolution);
  return h;
}

/** The resolution in a ModuleDict entry name ('16x16_block0' -> 16). */
function resolutionOf(name: string): number {
  const r = /^(\d+)x\d+_/.exec(name);
  if (!r) throw new Error(`onnx export: cannot read the resolution of layer '${name}'`);
  return Number(r[1]);
}

/** An encoder entry of either U-Net, a block or a (down)sampling conv: its output and channel count. */
function emitEncoderLayer(g: OnnxGraph, m: Module, path: string, h: string, emb: string, resolution: number): { h: string; channels: number } {
  if (m instanceof UNetBlock) return { h: emitUNetBlock(g, m, path, h, emb, resolution), channels: m.outChannels };
  const conv = expectModule(m, ResampleConv2d, path);
  return { h: emitResampleConv2d(g, conv, path, h), channels: conv.outChannels };
}

/** SongUNet.forward (NCSN++ / DDPM++) with its encoder/decoder bookkeeping. */
function emitSongUNet(g: OnnxGraph, net: SongUNet, x: string, noise: string, labels: string | null): string {
  let emb = emitNoiseEmbedding(g, net.mapNoise, 'map_noise', noise, 'sin-cos');
  if (net.mapLabel && labels) {
    const scaled = g.op('Mul', [labels, g.constFloat([Math.sqrt(net.mapLabel.inFeatures)], [])]);
    emb = g.op('Add', [emb, emitLinear(g, net.mapLabel, 'map_label', scaled)]);
  }
  emb = silu(g, emitLinear(g, net.mapLayer0, 'map_layer0', emb));
  emb = silu(g, emitLinear(g, net.mapLayer1, 'map_layer1', emb));

  const skips: string[] = [];
  const channels: number[] = [];
  let aux = x;
  let h = x;
  let hChannels = net.config.inChannels;
  for (const [name, m] of net.enc.entries()) {
    const path = `enc.${name}`;
    if (name.endsWith('_aux_down')) aux = emitResampleConv2d(g, expectModule(m, ResampleConv2d, path), path, aux);
    else if (name.endsWith('_aux_skip')) {
      h = g.op('Add', [h, emitResampleConv2d(g, expectModule(m, ResampleConv2d, path), path, aux)]);
      skips[skips.length - 1] = h;
    } else if (name.endsWith('_aux_residual')) {
      h = g.op('Mul', [g.op('Add', [h, emitResampleConv2d(g, expectModule(m, ResampleConv2d, path), path, aux)]), g.constFloat([Math.SQRT1_2], [])]);
      skips[skips.length - 1] = h;
      aux = h;
    } else {
      ({ h, channels: hChannels } = emitEncoderLayer(g, m, path, h, emb, resolutionOf(name)));
      skips.push(h);
      channels.push(hChannels);
    }
  }

  let out: string | null = null;
  let tmp: string | null = null;
  for (const [name, m] of net.dec.entries()) {
    const path = `dec.${name}`;
    if (name.endsWith('_aux_up')) out = emitResampleConv2d(g, expectModule(m, ResampleConv2d, path), path, out!);
    else if (name.endsWith('_aux_norm')) tmp = emitGroupNorm(g, expectModule(m, GroupNorm, path), path, h);
    else if (name.endsWith('_aux_conv')) {
      tmp = emitResampleConv2d(g, expectModule(m, ResampleConv2d, path), path, silu(g, tmp!));
      out = out ? g.op('Add', [tmp, out]) : tmp;
    } else {
      const b = expectModule(m, UNetBlock, path);
      if (hChannels !== b.inChannels) {
        h = g.op('Concat', [h, skips.pop()!], { axis: 1 });
        hChannels += channels.pop()!;
      }
      if (hChannels !== b.inChannels) throw new Error(`onnx export: ${path} expects ${b.inChannels} channels, the graph has ${hChannels}`);
      h = emitUNetBlock(g, b, path, h, emb, resolutionOf(name));
      hChannels = b.outChannels;
    }
  }
  if (!out) throw new Error('onnx export: the SongUNet has no output layer');
  return out;
}

/** DhariwalUNet.forward (ADM). */
function emitDhariwalUNet(g: OnnxGraph, net: DhariwalUNet, x: string, noise: string, labels: string | null): string {
  let emb = silu(g, emitLinear(g, net.mapLayer0, 'map_layer0', emitNoiseEmbedding(g, net.mapNoise, 'map_noise', noise, 'cos-sin')));
  emb = emitLinear(g, net.mapLayer1, 'map_layer1', emb);
  if (net.mapLabel && labels) emb = g.op('Add', [emb, emitLinear(g, net.mapLabel, 'map_label', labels)]);
  emb = silu(g, emb);

  const skips: string[] = [];
  const channels: number[] = [];
  let h = x;
  let hChannels = net.config.inChannels;
  for (const [name, m] of net.enc.entries()) {
    ({ h, channels: hChannels } = emitEncoderLayer(g, m, `enc.${name}`, h, emb, resolutionOf(name)));
    skips.push(h);
    channels.push(hChannels);
  }
  for (const [name, m] of net.dec.entries()) {
    const b = expectModule(m, UNetBlock, `dec.${name}`);
    if (hChannels !== b.inChannels) {
      h = g.op('Concat', [h, skips.pop()!], { axis: 1 });
      hChannels += channels.pop()!;
    }
    if (hChannels !== b.inChannels) throw new Error(`onnx export: dec.${name} expects ${b.inChannels} channels, the graph has ${hChannels}`);
    h = emitUNetBlock(g, b, `dec.${name}`, h, emb, resolutionOf(name));
    hChannels = b.outChannels;
  }
  return emitResampleConv2d(g, net.outConv, 'out_conv', silu(g, emitGroupNorm(g, net.outNorm, 'out_norm', h)));
}

/**
 * The raw network F(x, c_noise, labels) of either U-Net. `labels` is a float one-hot [N, labelDim]
 * value for class-conditional networks (ImageNetwork's float label form), null otherwise.
 */
export function emitNetwork(g: OnnxGraph, net: ImageNetwork, x: string, noise: string, labels: string | null): string {
  if (net.config.labelDim > 0 !== (labels !== null))
    throw new Error('onnx export: class labels must be given exactly for class-conditional networks');
  if (net instanceof SongUNet) return emitSongUNet(g, net, x, noise, labels);
  if (net instanceof DhariwalUNet) return emitDhariwalUNet(g, net, x, noise, labels);
  throw new Error(`onnx export: no ONNX emitter for ${net.constructor.name}`);
}

/**
 * The interface the method code uses: a raw U-Net F(x, c_noise, class) with no preconditioning
 * (c_skip, c_out, c_in and c_noise live in the method code, docs/method.md section 1).
 */
import { Module } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';
import { arange } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import type { NetworkConfig } from './config.js';

export abstract class ImageNetwork extends Module {
  abstract readonly config: NetworkConfig;

  /**
   * F(x, c_noise, class).
   * @param x float32 [N, inChannels, R, R], already scaled by c_in.
   * @param noiseLabels float32 [N], the c_noise values.
   * @param classLabels int64 [N] class indices, or float32 [N, labelDim] one-hot (or soft) labels;
   *   required when labelDim > 0, must be absent otherwise.
   * @returns float32 [N, outChannels, R, R].
   */
  abstract forward(x: Tensor, noiseLabels: Tensor, classLabels?: Tensor | null): Tensor;

  /** Checks the inputs' shapes and returns the class labels as float [N, labelDim] (null when unconditional). */
  protected checkInputs(x: Tensor, noiseLabels: Tensor, classLabels: Tensor | null | undefined): Tensor | null {
    const c = this.config;
    const name = this.constructor.name;
    const [n, ch, h, w] = x.shape;
    if (x.shape.length !== 4 || ch !== c.inChannels || h !== c.imgResolution || w !== c.imgResolution)
      throw new RangeError(`${name}.forward: x must be [N, ${c.inChannels}, ${c.imgResolution}, ${c.imgResolution}], got [${x.shape.join(', ')}]`);
    if (noiseLabels.shape.length !== 1 || noiseLabels.shape[0] !== n)
      throw new RangeError(`${name}.forward: noiseLabels must be [${n}] (one c_noise per image), got [${noiseLabels.shape.join(', ')}]`);
    if (c.labelDim === 0) {
      if (classLabels) throw new RangeError(`${name}.forward: classLabels given to an unconditional network (labelDim 0)`);
      return null;
    }
    if (!classLabels) throw new RangeError(`${name}.forward: classLabels are required (labelDim ${c.labelDim})`);
    if (classLabels.dtype === 'int64' || classLabels.dtype === 'int32') {
      if (classLabels.shape.length !== 1 || classLabels.shape[0] !== n)
        throw new RangeError(`${name}.forward: integer classLabels must be [${n}], got [${classLabels.shape.join(', ')}]`);
      return oneHot(classLabels, c.labelDim, x.dtype === 'float64' ? 'float64' : 'float32');
    }
    if (classLabels.shape.length !== 2 || classLabels.shape[0] !== n || classLabels.shape[1] !== c.labelDim)
      throw new RangeError(`${name}.forward: one-hot classLabels must be [${n}, ${c.labelDim}], got [${classLabels.shape.join(', ')}]`);
    return classLabels;
  }
}

/** Integer labels [N] -> float one-hot [N, classes]; a label outside [0, classes) throws a RangeError. */
export function oneHot(labels: Tensor, classes: number, dtype: 'float32' | 'float64' = 'float32'): Tensor {
  const outside = tidy(() => labels.lt(0).logicalOr(labels.ge(classes)).any());
  if (outside)
    throw new RangeError(
      `oneHot: class labels must be integers in [0, ${classes}); got ${tidy(() => `min ${labels.min().item()}, max ${labels.max().item()}`)}`,
    );
  const ids = arange(0, classes, 1, { dtype: labels.dtype, device: labels.device });
  const col = labels.reshape([-1, 1]);
  const eq = col.eq(ids.reshape([1, classes]));
  const out = eq.toDtype(dtype);
  ids.dispose();
  col.dispose();
  eq.dispose();
  return out;
}

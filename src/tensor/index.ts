/** The tensor API: creation, the Tensor class, scopes, random generators, autograd, nn functions. */
export { Tensor, DisposedTensorError, type TensorOrScalar } from './tensor.js';
export type { DType } from './dtype.js';
export { isFloating } from './dtype.js';
export {
  zeros,
  ones,
  full,
  empty,
  scalar,
  arange,
  linspace,
  eye,
  rand,
  randn,
  randint,
  randperm,
  zerosLike,
  onesLike,
  fullLike,
  randnLike,
  randLike,
  bernoulli,
  tensor,
  cat,
  stack,
  where,
  einsum,
  cdist,
  eigh,
  svd,
  type CreationOptions,
  type RandomOptions,
} from './creation.js';
export { tidy, keep, dispose, scopeDepth } from './scope.js';
export { Generator, manualSeed } from './random.js';
export { noGrad, enableGrad, isGradEnabled } from './autograd.js';
export {
  getDefaultDevice,
  setDefaultDevice,
  buildInfo,
  cudaAvailable,
  synchronize,
  setAllowTF32CuDNN,
  setNumThreads,
  getNumThreads,
} from './device.js';
export {
  autocast,
  autocastToFloat32,
  fullPrecision,
  isAutocastEnabled,
  parsePrecision,
  checkPrecision,
  autocastDtype,
  precisions,
  type Precision,
} from './autocast.js';
export * as nnf from './functional.js';
// The addon itself stays inside src/tensor (its one door): every other module calls these wrappers.
export type { BuildInfo } from './native.js';

import { native } from './native.js';
/** How many native tensors are alive (not disposed, not yet collected): for leak tests. */
export function liveTensorCount(): number {
  return native.liveTensors();
}

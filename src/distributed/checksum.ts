/**
 * The cross-rank check that data-parallel replicas stay identical (issue 10): every M steps each
 * rank sums its tensors in float64 (each tensor's sum and sum of squares), rank 0's sums are
 * broadcast, and any rank whose sums differ in any bit stops every rank with one error naming the
 * step. Identical gradients, optimizer and EMA updates give bitwise identical weights, so exact
 * comparison is right.
 */
import type { Tensor } from '../tensor/tensor.js';
import { stack } from '../tensor/creation.js';
import { tidy } from '../tensor/scope.js';
import { noGrad } from '../tensor/autograd.js';
import { DistributedError, type ProcessGroup } from './process-group.js';

/** Each tensor's float64 sum and sum of squares, in order. */
export function tensorChecksums(tensors: Tensor[]): number[] {
  if (tensors.length === 0) return [];
  return noGrad(() =>
    tidy(() => {
      const parts = tensors.flatMap((t) => {
        const d = t.detach().toDtype('float64');
        return [d.sum(), d.square().sum()];
      });
      return Array.from(stack(parts).toFloat64Array());
    }),
  );
}

/**
 * Throws (on every rank at once) when this rank's tensors differ from rank 0's. `what` names the
 * tensors in the message ('weights', 'EMA weights').
 */
export function checkReplicasAgree(group: ProcessGroup, tensors: Tensor[], step: number, what = 'weights'): void {
  const own = tensorChecksums(tensors);
  const reference = group.broadcastNumbers(own, 0);
  let firstBad = -1;
  for (let i = 0; i < own.length; i++) {
    if (!Object.is(own[i], reference[i])) {
      firstBad = Math.floor(i / 2);
      break;
    }
  }
  // Every rank learns which ranks disagree, so all stop at the same step.
  const flags = new Array<number>(group.worldSize).fill(0);
  flags[group.rank] = firstBad >= 0 ? 1 : 0;
  const bad = group.allReduceNumbers(flags);
  const badRanks = bad.flatMap((v, r) => (v > 0 ? [r] : []));
  if (badRanks.length > 0) {
    const detail = firstBad >= 0 ? ` (here, from tensor ${firstBad} on)` : '';
    throw new DistributedError(
      `step ${step}: the ${what} of rank${badRanks.length > 1 ? 's' : ''} ${badRanks.join(', ')} differ from rank 0's${detail}; the replicas diverged`,
    );
  }
}

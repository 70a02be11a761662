/**
 * The orthogonal channel map of zero-shot colorization (Song et al. 2023, Algorithm 4; docs/method.md
 * section 6) as plain numbers, shared by src/method/editing.ts and the libtorch-free runtime.
 */

/** The luma weights of ITU-R BT.601 (R, G, B), the direction colorization keeps. */
export const LUMA_WEIGHTS = [0.2989, 0.587, 0.114] as const;

/**
 * An orthogonal 3x3 matrix Q whose first column is the unit luma direction w / |w| (Gram-Schmidt
 * on w, e_1, e_2, e_3). Column d of Q is axis d of the map A x = Q^T x.
 */
export function colorTransform(): number[][] {
  const norm = Math.hypot(...LUMA_WEIGHTS);
  const cols: number[][] = [LUMA_WEIGHTS.map((v) => v / norm)];
  for (let e = 0; e < 3 && cols.length < 3; e++) {
    const v = [0, 0, 0];
    v[e] = 1;
    for (const c of cols) {
      const dot = c[0]! * v[0]! + c[1]! * v[1]! + c[2]! * v[2]!;
      for (let k = 0; k < 3; k++) v[k]! -= dot * c[k]!;
    }
    const n = Math.hypot(...v);
    if (n > 1e-6) cols.push(v.map((x) => x / n));
  }
  // Q[c][d] = cols[d][c]
  return [0, 1, 2].map((c) => [0, 1, 2].map((d) => cols[d]![c]!));
}

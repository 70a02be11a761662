/**
 * The class each image asks for when a class-conditional model is sampled without a class: image i asks
 * for class i mod K, so a grid with K columns shows every class in order on each row. Plain numbers, no
 * tensor code, so the libtorch-free runtime (src/generate) follows the same rule; bench/mnist_judge.py
 * --labels-cycle K scores grids by it.
 */
export function cycledClass(index: number, classes: number): number {
  return index % classes;
}

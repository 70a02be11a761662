/** An ordered, named collection of submodules (names appear in parameter names: 'enc.32x32_conv.weight'). */
import { Module } from './module.js';

export class ModuleDict<M extends Module = Module> extends Module {
  readonly #order: Array<[string, M]> = [];

  /** Adds `module` under `name` (names may not repeat or contain '.'). */
  set<T extends M>(name: string, module: T): T {
    this.registerModule(name, module);
    this.#order.push([name, module]);
    return module;
  }

  get(name: string): M | undefined {
    return this.#order.find(([n]) => n === name)?.[1];
  }

  /** [name, module] pairs in insertion order. */
  entries(): ReadonlyArray<readonly [string, M]> {
    return this.#order;
  }

  get size(): number {
    return this.#order.length;
  }
}

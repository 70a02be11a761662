/** Modules and layers. */
export { Module, StateDictError } from './module.js';
export { Linear, Conv2d, GroupNorm, LayerNorm, Dropout, uniformInit, type InitOptions, type Conv2dLayerOptions } from './layers.js';

/** Modules and layers. */
export { Module, StateDictError } from './module.js';
export { Conv2d, GroupNorm, LayerNorm, Dropout, uniformInit, type InitOptions, type Conv2dLayerOptions } from './layers.js';
export { initTensor, INIT_MODES, type InitMode, type WeightInit, type ParameterOptions } from './init.js';
export { Linear, type LinearOptions } from './linear.js';
export { ResampleConv2d, type ResampleConv2dOptions } from './resample-conv2d.js';
export { PositionalEmbedding, FourierEmbedding } from './noise-embedding.js';
export { ModuleDict } from './module-dict.js';
export { UNetBlock, unetGroupNorm, type UNetBlockOptions } from './unet-block.js';

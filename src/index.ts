/**
 * consistency-ts: consistency models (iCT, Song & Dhariwal 2023) trained and sampled from
 * TypeScript on libtorch. The package root exports every public name explicitly.
 */
export * from './tensor/index.js';
export {
  loadSafetensors, saveSafetensors, parseSafetensors, serializeSafetensors, readSafetensorsHeader, SafetensorsError,
  type LoadedSafetensors, type SafetensorsHeader, type TensorInfo,
} from './io/safetensors.js';
export { writeFileAtomic } from './io/atomic.js';
export * from './nn/index.js';

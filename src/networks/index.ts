/** The U-Nets (NCSN++ and ADM as in EDM), their presets, and building them. */
export { type NetworkConfig, type SongUNetConfig, type DhariwalUNetConfig, validateNetworkConfig, blockDropout } from './config.js';
export { ImageNetwork, oneHot } from './network.js';
export { SongUNet } from './song-unet.js';
export { DhariwalUNet } from './dhariwal-unet.js';
export { PRESET_NAMES, isPresetName, resolvePreset, type Preset, type PresetName, type DataSettings, type TrainingSettings } from './presets.js';
export { buildNetwork, createNetwork, countParameters, type BuildOptions } from './build.js';

/** The U-Nets (NCSN++ and ADM as in EDM), their paper configurations, and building them. */
export { type NetworkConfig, type SongUNetConfig, type DhariwalUNetConfig, validateNetworkConfig, blockDropout } from './config.js';
export { ImageNetwork, oneHot } from './network.js';
export { SongUNet } from './song-unet.js';
export { DhariwalUNet } from './dhariwal-unet.js';
export { ncsnppConfig, admConfig } from './presets.js';
export { createNetwork, countParameters, type BuildOptions } from './build.js';

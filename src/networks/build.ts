/** Builds the network of a configuration, and counts parameters without drawing weights. */
import type { Generator } from '../tensor/random.js';
import type { NetworkConfig } from './config.js';
import { validateNetworkConfig } from './config.js';
import type { ImageNetwork } from './network.js';
import { DhariwalUNet } from './dhariwal-unet.js';
import { SongUNet } from './song-unet.js';

export interface BuildOptions {
  /**
   * Draws the initial weights; a CPU generator, because weights are always drawn on the CPU
   * and then moved, so one seed gives the same network on every device.
   */
  generator?: Generator;
  /** Where the network lives (default 'cpu'). */
  device?: string;
  /** Draws dropout masks (Module.setGenerator); a generator on `device`. */
  dropoutGenerator?: Generator;
  /** 'uninitialized' skips drawing initial values (for loading a checkpoint next, or counting). */
  values?: 'random' | 'uninitialized';
}

/** A network for a configuration. */
export function createNetwork(config: NetworkConfig, options: BuildOptions = {}): ImageNetwork {
  validateNetworkConfig(config);
  if (options.generator && options.generator.device !== 'cpu')
    throw new RangeError(`createNetwork: the initialization generator must be a CPU generator, got one on '${options.generator.device}'`);
  const device = options.device ?? 'cpu';
  const values = options.values ?? 'random';
  // Uninitialized values cost nothing to make on the target device; random ones are drawn on the CPU.
  const p = { ...(options.generator && { generator: options.generator }), values, device: values === 'uninitialized' ? device : 'cpu' };
  const net: ImageNetwork = config.architecture === 'song' ? new SongUNet(config, p) : new DhariwalUNet(config, p);
  if (device !== p.device) net.to(device);
  if (options.dropoutGenerator) net.setGenerator(options.dropoutGenerator);
  return net;
}

/** Trainable values and buffer values of a configuration, counted from an uninitialized build (no values drawn). */
export function countParameters(config: NetworkConfig): { parameters: number; buffers: number } {
  const net = createNetwork(config, { values: 'uninitialized', device: 'cpu' });
  try {
    let buffers = 0;
    for (const b of net.namedBuffers().values()) buffers += b.size;
    return { parameters: net.parameterCount(), buffers };
  } finally {
    net.dispose();
  }
}

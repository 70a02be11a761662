/**
 * Presets as tests of other things than class conditioning use them: mnist-quick, the smallest
 * network, is class-conditional (labelDim 10, sigma_max 20); these give its unconditional form.
 */
import { runPreset, type PresetName } from '../../src/train/presets.js';
import type { RunConfig } from '../../src/train/config.js';
import { createNetwork, type BuildOptions, type ImageNetwork } from '../../src/networks/index.js';

/** The run config of preset `name` with an unconditional network (labelDim 0), everything else as the preset has it. */
export function unconditionalConfig(name: PresetName): RunConfig {
  const config = runPreset(name);
  if (!config) throw new Error(`no preset ${name}`);
  config.network = { ...config.network, labelDim: 0 };
  return config;
}

/** The unconditional network of preset `name` (createNetwork's options). */
export function unconditionalNetwork(name: PresetName, options: BuildOptions = {}): ImageNetwork {
  return createNetwork(unconditionalConfig(name).network, options);
}

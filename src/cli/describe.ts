/**
 * `consistency describe --preset NAME [--json]`: prints a preset's network configuration, its
 * exact parameter count (from an uninitialized build of the same constructor code: nothing is
 * drawn, so the 300M-parameter ADM costs little), and its method, data, training and sampling
 * settings (the preset's run config, src/train/presets.ts).
 */
import type { Command } from './command.js';
import { bool, parseCommandFlags, str, type FlagSpecs } from './args.js';
import { PRESET_NAMES, resolvePreset, type RunPreset } from '../train/presets.js';
import { countParameters } from '../networks/build.js';

const NAME = 'consistency describe';
const USAGE = `${NAME} --preset NAME [--json]`;
const SUMMARY = "print a preset's network configuration, exact parameter count and training settings";

const FLAGS: FlagSpecs = {
  preset: { kind: 'string', help: 'the preset', choices: PRESET_NAMES, required: true },
  json: {
    kind: 'boolean',
    help: 'print one JSON object {preset, description, network, method, data, training, sampling, parameters, buffers, referenceParameterCount}',
  },
};

async function run(argv: string[]): Promise<number> {
  const flags = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!flags) return 0;
  const preset = resolvePreset(str(flags, 'preset')!);
  const { parameters, buffers } = countParameters(preset.config.network);

  if (bool(flags, 'json')) {
    const {
      description,
      referenceParameterCount,
      config: { preset: name, network, method, data, training, sampling },
    } = preset;
    console.log(
      JSON.stringify({ preset: name, description, network, method, data, training, sampling, parameters, buffers, referenceParameterCount }),
    );
    return 0;
  }
  console.log(describeText(preset, parameters, buffers));
  return 0;
}

const group = (n: number): string => n.toLocaleString('en-US');

function describeText(p: RunPreset, parameters: number, buffers: number): string {
  const { network: net, method, data, training, sampling } = p.config;
  const arch = net.architecture === 'song' ? `${net.embeddingType === 'fourier' ? 'NCSN++' : 'DDPM++'} (SongUNet)` : 'ADM (DhariwalUNet)';
  const reference =
    p.referenceParameterCount === null
      ? ''
      : p.referenceParameterCount === parameters
        ? " (equals EDM's count)"
        : ` (EDM's count is ${group(p.referenceParameterCount)})`;
  const lines = [
    `preset ${p.config.preset}: ${p.description}`,
    '',
    `network: ${arch}`,
    ...Object.entries(net)
      .filter(([k]) => k !== 'architecture')
      .map(([k, v]) => `  ${k.padEnd(22)} ${JSON.stringify(v)}`),
    `  ${'parameters'.padEnd(22)} ${group(parameters)}${reference}`,
    `  ${'buffers'.padEnd(22)} ${group(buffers)} (not trained)`,
    '',
    `method: ${method.method}, c_noise for ${method.noiseEmbedding} embedding`,
    ...Object.entries(method)
      .filter(([k]) => k !== 'method' && k !== 'noiseEmbedding')
      .map(([k, v]) => `  ${k.padEnd(22)} ${JSON.stringify(v)}`),
    `data: ${data.dataset}, ${net.inChannels}x${net.imgResolution}x${net.imgResolution}` +
      `${data.pad32 ? ' (28x28 padded by 2 on each side)' : ''}, ${net.labelDim ? `${net.labelDim} classes` : 'unconditional'}${data.flip ? ', random horizontal flips' : ''}`,
    'training:',
    ...Object.entries(training).map(([k, v]) => `  ${k.padEnd(22)} ${JSON.stringify(v)}`),
    `sampling: two-step second level ${sampling.secondSigma}`,
  ];
  return lines.join('\n');
}

const command: Command = { summary: SUMMARY, run };
export default command;

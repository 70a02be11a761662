/**
 * `consistency describe --preset NAME [--json]`: prints a preset's network configuration, its
 * exact parameter count (from an uninitialized build of the same constructor code: nothing is
 * drawn, so the 300M-parameter ADM costs little), and its data and training settings.
 */
import type { Command } from './command.js';
import { bool, parseCommandFlags, str, type FlagSpecs } from './args.js';
import { PRESET_NAMES, resolvePreset, type Preset } from '../networks/presets.js';
import { countParameters } from '../networks/build.js';

const NAME = 'consistency describe';
const USAGE = `${NAME} --preset NAME [--json]`;
const SUMMARY = "print a preset's network configuration, exact parameter count and training settings";

const FLAGS: FlagSpecs = {
  preset: { kind: 'string', help: 'the preset', choices: PRESET_NAMES, required: true },
  json: { kind: 'boolean', help: 'print one JSON object {preset, description, method, noiseEmbedding, network, data, training, parameters, buffers, referenceParameterCount}' },
};

async function run(argv: string[]): Promise<number> {
  const flags = parseCommandFlags(NAME, USAGE, SUMMARY, argv, FLAGS);
  if (!flags) return 0;
  const preset = resolvePreset(str(flags, 'preset')!);
  const { parameters, buffers } = countParameters(preset.network);

  if (bool(flags, 'json')) {
    const { name, description, method, noiseEmbedding, network, data, training, referenceParameterCount } = preset;
    console.log(JSON.stringify({ preset: name, description, method, noiseEmbedding, network, data, training, parameters, buffers, referenceParameterCount }));
    return 0;
  }
  console.log(describeText(preset, parameters, buffers));
  return 0;
}

const group = (n: number): string => n.toLocaleString('en-US');

function describeText(p: Preset, parameters: number, buffers: number): string {
  const net = p.network;
  const arch = net.architecture === 'song'
    ? `${net.embeddingType === 'fourier' ? 'NCSN++' : 'DDPM++'} (SongUNet)`
    : 'ADM (DhariwalUNet)';
  const reference = p.referenceParameterCount === null
    ? ''
    : p.referenceParameterCount === parameters ? ' (equals EDM\'s count)' : ` (EDM's count is ${group(p.referenceParameterCount)})`;
  const lines = [
    `preset ${p.name}: ${p.description}`,
    '',
    `network: ${arch}`,
    ...Object.entries(net).filter(([k]) => k !== 'architecture').map(([k, v]) => `  ${k.padEnd(22)} ${JSON.stringify(v)}`),
    `  ${'parameters'.padEnd(22)} ${group(parameters)}${reference}`,
    `  ${'buffers'.padEnd(22)} ${group(buffers)} (not trained)`,
    '',
    `method: ${p.method}, c_noise for ${p.noiseEmbedding} embedding`,
    `data: ${p.data.dataset}, ${p.data.channels}x${p.data.resolution}x${p.data.resolution}` +
      `${p.data.padding ? ` (padded by ${p.data.padding} on each side)` : ''}, ${p.data.classes ? `${p.data.classes} classes` : 'unconditional'}`,
    'training:',
    ...Object.entries(p.training).map(([k, v]) => `  ${k.padEnd(22)} ${JSON.stringify(v)}`),
  ];
  return lines.join('\n');
}

const command: Command = { summary: SUMMARY, run };
export default command;

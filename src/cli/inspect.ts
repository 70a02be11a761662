/** `consistency inspect FILE.safetensors [--json]`: every tensor's name, dtype, shape and float64 sum. */
import type { Command } from './command.js';
import { parseFlags, helpText, UsageError, bool, type FlagSpecs } from './args.js';
import { readSafetensorsHeader, loadSafetensors } from '../io/safetensors.js';
import { tidy } from '../tensor/scope.js';

const flags: FlagSpecs = {
  json: { kind: 'boolean', help: 'print one JSON object' },
};
const usage = 'consistency inspect FILE.safetensors [--json]';
const summary = 'list the tensors of a safetensors file with their dtype, shape and sum';

const command: Command = {
  summary,
  async run(argv) {
    if (argv.includes('--help')) {
      console.log(helpText(usage, summary, flags));
      return 0;
    }
    const f = parseFlags('consistency inspect', argv, flags);
    if (f._.length !== 1) throw new UsageError(`consistency inspect: expected one file, got ${f._.length} (usage: ${usage})`);
    const file = f._[0]!;
    const header = readSafetensorsHeader(file);
    const { tensors } = loadSafetensors(file, { device: 'cpu' });
    const rows = header.tensors
      .slice()
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((info) => {
        const t = tensors.get(info.name)!;
        const sum = tidy(() => t.toDtype('float64').sum().item());
        t.dispose();
        return { name: info.name, dtype: info.dtype, shape: info.shape, sum };
      });
    if (bool(f, 'json')) {
      console.log(JSON.stringify({ file, metadata: header.metadata, tensors: rows }));
    } else {
      for (const r of rows) console.log(`${r.name}\t${r.dtype}\t[${r.shape.join(', ')}]\tsum=${r.sum}`);
      console.log(`${rows.length} tensors`);
    }
    return 0;
  },
};
export default command;

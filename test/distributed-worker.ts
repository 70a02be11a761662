/**
 * One rank of the distributed tests (test/distributed*.test.ts start it with the torchrun
 * environment). argv[2] is the scenario; results are printed as one JSON line on stdout.
 *   collectives: broadcast, sum all-reduces and a barrier, in the order test/reference/ddp_ref.py
 *                runs them, so Python ranks can be members of the same group.
 *   hang:        joins, then blocks in an all-reduce that a killed peer never joins.
 *   same:        requireSame('config', argv[3]).
 */
import { tensor, setNumThreads, arange } from '../src/tensor/index.js';
import { ProcessGroup, DistributedError, distributedEnvFrom } from '../src/distributed/index.js';

setNumThreads(1);

function main(): void {
  const scenario = process.argv[2] ?? '';
  const env = distributedEnvFrom(process.env);
  if (env === null) throw new Error('no torchrun environment');
  const timeoutMs = Number(process.env['DIST_TIMEOUT_MS'] ?? '20000');
  const group = ProcessGroup.init({ masterAddr: env.masterAddr, masterPort: env.masterPort, rank: env.rank, worldSize: env.worldSize, timeoutMs });
  const r = env.rank;
  const out: Record<string, unknown> = { rank: r };
  if (scenario === 'collectives') {
    const b = tensor(Float32Array.from([0, 1, 2, 3, 4], (i) => r * 10 + i));
    group.broadcast([b], 1);
    out['broadcast'] = Array.from(b.toFloat32Array());
    const d = tensor(Float64Array.from([r + 0.5, r * r, -r, 1e-300 * (r + 1)]));
    group.allReduceSum([d]);
    out['sum64'] = Array.from(d.toFloat64Array());
    const big = arange(0, 64).toDtype('float32').mul((r + 1) / 7);
    group.allReduceSum([big]);
    out['sum32'] = Array.from(big.toFloat32Array());
    group.barrier();
    out['numbers'] = group.allReduceNumbers([r, 1]);
  } else if (scenario === 'hang') {
    if (r === 1) process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
    // Rank 1 is SIGKILLed by the test while rank 0 waits in this all-reduce.
    if (r === 1) setTimeout(() => undefined, 1e9);
    else group.allReduceNumbers([1]);
  } else if (scenario === 'same') {
    group.requireSame('config', process.argv[3] ?? '');
    out['same'] = true;
  } else throw new Error(`unknown scenario ${scenario}`);
  group.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`${e instanceof DistributedError ? e.message : String(e)}\n`);
  process.exit(1);
}

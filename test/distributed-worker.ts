/**
 * One rank of the distributed tests (test/distributed*.test.ts start it with the torchrun
 * environment). argv[2] is the scenario; results are printed as one JSON line on stdout.
 *   collectives: broadcast, sum all-reduces and a barrier, in the order test/reference/ddp_ref.py
 *                runs them, so Python ranks can be members of the same group.
 *   hang:        joins, then blocks in an all-reduce that a killed peer never joins.
 *   same:        requireSame('config', argv[3]).
 *   ddp CFG DIR STEPS LR MICRO: data-parallel training of a createNetwork(CFG) network with
 *                DataParallelGradientSync, the same data, loss and Adam as ddp_ref.py's 'ddp';
 *                each rank's share is cut into MICRO micro-batches; the per-sample losses are
 *                summed and divided by the global batch (the step's shared design). Rank 0
 *                writes DIR/init.safetensors (after the broadcast) and DIR/ts-final-<N>.safetensors.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tensor, setNumThreads, arange, Generator, tidy } from '../src/tensor/index.js';
import {
  ProcessGroup,
  DistributedError,
  distributedEnvFrom,
  DataParallelGradientSync,
  broadcastTensors,
  checkReplicasAgree,
} from '../src/distributed/index.js';
import { createNetwork } from '../src/networks/build.js';
import type { NetworkConfig } from '../src/networks/config.js';
import { loadSafetensors, saveSafetensors } from '../src/io/safetensors.js';
import { Adam } from '../src/optim/adam.js';

setNumThreads(1);

function main(): void {
  const scenario = process.argv[2] ?? '';
  const env = distributedEnvFrom(process.env);
  if (env === null) throw new Error('no torchrun environment');
  const timeoutMs = Number(process.env['DIST_TIMEOUT_MS'] ?? '20000');
  const backend = scenario === 'nccl' ? 'nccl' : 'gloo';
  const group = ProcessGroup.init({
    masterAddr: env.masterAddr,
    masterPort: env.masterPort,
    rank: env.rank,
    worldSize: env.worldSize,
    timeoutMs,
    backend,
    ...(env.agentStoreAttempt !== null && { agentStoreAttempt: env.agentStoreAttempt }),
  });
  const r = env.rank;
  const out: Record<string, unknown> = { rank: r };
  if (scenario === 'collectives') {
    const b = tensor(Float32Array.from([0, 1, 2, 3, 4], (i) => r * 10 + i));
    group.broadcast([b], 1);
    out['broadcast'] = Array.from(b.toFloat32Array());
    const d = tensor(Float64Array.from([r + 0.5, r * r, -r, 1e-300 * (r + 1)]));
    group.allReduceSum([d]);
    out['sum64'] = Array.from(d.toFloat64Array());
    const big = arange(0, 64)
      .toDtype('float32')
      .mul((r + 1) / 7);
    group.allReduceSum([big]);
    out['sum32'] = Array.from(big.toFloat32Array());
    group.barrier();
    out['numbers'] = group.allReduceNumbers([r, 1]);
  } else if (scenario === 'hang') {
    // Rank 1 says it has joined, then sleeps until the test SIGKILLs it; rank 0 waits in an all-reduce.
    if (r === 1) {
      process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
      const readyFile = process.env['READY_FILE'];
      if (readyFile !== undefined) writeFileSync(readyFile, String(process.pid));
      setInterval(() => undefined, 1000);
      return;
    }
    group.allReduceNumbers([1]);
  } else if (scenario === 'nccl') {
    // One rank per GPU: the NCCL group's collectives on CUDA tensors.
    const t = tensor(Float32Array.from([1, 2, 3]), [3], { device: `cuda:${env.localRank}` });
    group.allReduceSum([t]);
    group.broadcast([t], 0);
    group.barrier();
    out['sum'] = Array.from(t.toFloat32Array());
  } else if (scenario === 'same') {
    group.requireSame('config', process.argv[3] ?? '');
    out['same'] = true;
  } else if (scenario === 'ddp') {
    const [cfgJson, dir, stepsRaw, lrRaw, microRaw] = process.argv.slice(3);
    const config = JSON.parse(cfgJson ?? '') as NetworkConfig;
    const folder = dir ?? '';
    const steps = Number(stepsRaw);
    const micro = Number(microRaw);
    // Different initial weights on every rank: the broadcast must make them rank 0's.
    const net = createNetwork(config, { generator: new Generator(1234 + 1000 * r, 'cpu') });
    broadcastTensors(group, [...net.stateDict().values()]);
    if (r === 0) saveSafetensors(join(folder, 'init.safetensors'), net.stateDict());
    group.barrier();
    const sync = new DataParallelGradientSync(group, net.parameters());
    const opt = new Adam(net, { lr: Number(lrRaw) });
    const data = loadSafetensors(join(folder, 'data.safetensors')).tensors;
    const [x, noise, target] = ['x', 'noise', 'target'].map((k) => data.get(k)!);
    const B = x!.shape[1]!;
    const lo = Math.floor((r * B) / env.worldSize);
    const hi = Math.floor(((r + 1) * B) / env.worldSize);
    net.train();
    for (let k = 0; k < steps; k++) {
      const cuts = Array.from({ length: micro + 1 }, (_, i) => lo + Math.floor(((hi - lo) * i) / micro));
      for (let m = 0; m < micro; m++) {
        tidy(() => {
          const a = cuts[m]!,
            b = cuts[m + 1]!;
          const xs = x!.select(0, k).slice(0, a, b),
            ns = noise!.select(0, k).slice(0, a, b),
            ts = target!.select(0, k).slice(0, a, b);
          const out = net.forward(xs, ns);
          const perSample = out.sub(ts).square().flatten(1).mean(1);
          sync.beforeBackward(m === micro - 1);
          perSample.sum().div(B).backward();
        });
      }
      sync.finishGradients();
      opt.step();
      opt.zeroGrad();
    }
    checkReplicasAgree(group, net.parameters(), steps);
    if (r === 0) saveSafetensors(join(folder, `ts-final-${env.worldSize}.safetensors`), net.stateDict());
    out['buckets'] = sync.buckets().length;
    sync.dispose();
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

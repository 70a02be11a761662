/**
 * One rank of bench/ddp.ts (started with the torchrun environment; WORLD_SIZE 1 = no group):
 * `node dist/bench/ddp_worker.js PRESET BATCH STEPS WARMUP`. Each step is the step of
 * bench/ddp_ref.py and test/reference/networks_ref.py's `bench`: the network at two noise levels
 * (the second without gradients), a pseudo-Huber loss, backward, Adam; the global batch is split
 * over the ranks and the gradients summed by DataParallelGradientSync. Prints one JSON line from
 * rank 0: per-step wall times and the time spent waiting for the gradient all-reduce after the
 * backward (the communication the backward did not hide).
 */
import { randn } from '../src/tensor/creation.js';
import { tidy } from '../src/tensor/scope.js';
import { noGrad } from '../src/tensor/autograd.js';
import { Generator } from '../src/tensor/random.js';
import { setNumThreads } from '../src/tensor/device.js';
import { Adam } from '../src/optim/adam.js';
import { buildNetwork, resolvePreset } from '../src/train/presets.js';
import { ProcessGroup, DataParallelGradientSync, broadcastTensors, distributedEnvFrom } from '../src/distributed/index.js';

const [preset = 'mnist-quick', batchRaw = '32', stepsRaw = '6', warmupRaw = '2'] = process.argv.slice(2);
const env = distributedEnvFrom(process.env) ?? {
  rank: 0,
  worldSize: 1,
  localRank: 0,
  localWorldSize: 1,
  masterAddr: '127.0.0.1',
  masterPort: 0,
  agentStoreAttempt: null,
};
setNumThreads(Number(process.env['OMP_NUM_THREADS'] ?? '1'));
const B = Number(batchRaw);
const local = Math.floor(((env.rank + 1) * B) / env.worldSize) - Math.floor((env.rank * B) / env.worldSize);
const p = resolvePreset(preset);
const net = buildNetwork(p, { generator: new Generator(0, 'cpu'), dropoutGenerator: new Generator(1, 'cpu') });
net.train();
const group =
  env.worldSize > 1
    ? ProcessGroup.init({ masterAddr: env.masterAddr, masterPort: env.masterPort, rank: env.rank, worldSize: env.worldSize, timeoutMs: 120_000 })
    : null;
if (group) broadcastTensors(group, [...net.stateDict().values()]);
const sync = group ? new DataParallelGradientSync(group, net.parameters()) : null;
const adam = new Adam(net, { lr: 1e-4 });
const { imgResolution: R, inChannels: C } = p.config.network;
const g = new Generator(2 + env.rank, 'cpu');
const c = 0.00054 * Math.sqrt(C * R * R);
const stepMs: number[] = [];
const waitMs: number[] = [];
const steps = Number(stepsRaw) + Number(warmupRaw);
for (let k = 0; k < steps; k++) {
  const t0 = performance.now();
  let wait = 0;
  tidy(() => {
    const x = randn([local, C, R, R], { generator: g });
    const z = randn([local, C, R, R], { generator: g });
    const sigma = randn([local], { generator: g }).mul(2).sub(1.1).exp();
    const s4 = sigma.reshape([-1, 1, 1, 1]);
    const student = net.forward(x.add(s4.mul(z)), sigma.log().mul(0.25));
    const teacher = noGrad(() => net.forward(x.add(s4.mul(z).mul(0.9)), sigma.mul(0.9).log().mul(0.25)));
    const diff = student.sub(teacher).flatten(1);
    const perSample = diff
      .square()
      .sum(1)
      .add(c * c)
      .sqrt()
      .sub(c);
    sync?.beforeBackward(true);
    perSample.sum().div(B).backward();
    const tw = performance.now();
    sync?.finishGradients();
    wait = performance.now() - tw;
  });
  adam.step();
  adam.zeroGrad();
  if (k >= Number(warmupRaw)) {
    stepMs.push(performance.now() - t0);
    waitMs.push(wait);
  }
}
sync?.dispose();
group?.close();
if (env.rank === 0) process.stdout.write(`${JSON.stringify({ stepMs, waitMs })}\n`);

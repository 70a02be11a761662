/**
 * The TypeScript side of bench/networks.ts, in a process of its own (so its peak resident memory
 * is its own): the same commands as bench/networks_ref.py, one JSON line in, one JSON line out.
 *
 *   {"op": "init", "preset": NAME, "batch": B, "seed": S, "dir": DIR, "threads": N, "channelsLast": BOOL,
 *    "device": "cpu" | "cuda", "precision": "fp32" | "bf16" | "fp16"}
 *       builds the preset's network (seeded), writes its weights and the step's data (x, z,
 *       sigma_student, sigma_teacher, weight) to DIR for the Python side; with channelsLast the
 *       network's weights are laid out NHWC (Module.channelsLast, as `train --channels-last`);
 *       the network and data then move to `device` (weights are drawn on the CPU either way) and
 *       the training step's forward passes and loss run under autocast at `precision` (backward
 *       and Adam outside it, as src/train/step.ts does); the eval-mode loss stays float32;
 *       Adam(lr of the preset); answers the libtorch version this process runs on
 *   {"op": "loss0"}, {"op": "steps", "n": K}, {"op": "sample", "n": K}, {"op": "rss"}, {"op": "quit"}:
 *       as the Python side.
 */
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Tensor } from '../src/tensor/tensor.js';
import { randn, rand, full } from '../src/tensor/creation.js';
import { keep, tidy } from '../src/tensor/scope.js';
import { noGrad } from '../src/tensor/autograd.js';
import { Generator } from '../src/tensor/random.js';
import { setNumThreads, getNumThreads } from '../src/tensor/device.js';
import { autocast, parsePrecision, type Precision } from '../src/tensor/autocast.js';
import { native } from '../src/tensor/native.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { Adam } from '../src/optim/adam.js';
import { buildNetwork, resolvePreset } from '../src/train/presets.js';
import type { ImageNetwork } from '../src/networks/network.js';
import type { NetworkConfig } from '../src/networks/config.js';

const SIGMA_MIN = 0.002;
const SIGMA_DATA = 0.5;
const SIGMA_MAX = 80;

/** f(x_t, s) = c_skip x_t + c_out F(c_in x_t, 0.25 ln s) (docs/method.md section 1), per-sample s [N]. */
function fTheta(net: ImageNetwork, xt: Tensor, s: Tensor): Tensor {
  return tidy(() => {
    const s4 = s.reshape([-1, 1, 1, 1]);
    const d = s4.sub(SIGMA_MIN);
    const cSkip = d
      .square()
      .add(SIGMA_DATA ** 2)
      .rdiv(SIGMA_DATA ** 2);
    const cOut = d.mul(SIGMA_DATA).div(
      s4
        .square()
        .add(SIGMA_DATA ** 2)
        .sqrt(),
    );
    const cIn = s4
      .square()
      .add(SIGMA_DATA ** 2)
      .rsqrt();
    return cSkip.mul(xt).add(cOut.mul(net.forward(cIn.mul(xt), s.log().mul(0.25))));
  });
}

class Worker {
  net!: ImageNetwork;
  adam!: Adam;
  dropout!: Generator;
  x!: Tensor;
  z!: Tensor;
  sStudent!: Tensor;
  sTeacher!: Tensor;
  weight!: Tensor;
  c = 0;
  config!: NetworkConfig;
  device = 'cpu';
  precision: Precision = 'fp32';

  init(cmd: {
    preset: string;
    batch: number;
    seed: number;
    dir: string;
    threads: number;
    channelsLast?: boolean;
    device?: string;
    precision?: string;
  }): Record<string, unknown> {
    setNumThreads(cmd.threads);
    const preset = resolvePreset(cmd.preset);
    this.config = preset.config.network;
    this.dropout = new Generator(cmd.seed + 1, 'cpu');
    this.net = buildNetwork(preset, { generator: new Generator(cmd.seed, 'cpu'), dropoutGenerator: this.dropout });
    const g = new Generator(cmd.seed + 2, 'cpu');
    const { imgResolution: R, inChannels: C } = preset.config.network;
    const B = cmd.batch;
    keep((this.x = tidy(() => rand([B, C, R, R], { generator: g }).mul(2).sub(1))));
    keep((this.z = randn([B, C, R, R], { generator: g })));
    // Teacher levels lognormal around exp(-1.1) (docs/method.md section 3's P_mean, P_std), student 20% higher.
    keep((this.sTeacher = tidy(() => randn([B], { generator: g }).mul(2).sub(1.1).exp().clamp(SIGMA_MIN, 80))));
    keep((this.sStudent = tidy(() => this.sTeacher.mul(1.2))));
    keep((this.weight = tidy(() => this.sStudent.sub(this.sTeacher).reciprocal())));
    this.c = 0.00054 * Math.sqrt(C * R * R);
    const weights = join(cmd.dir, 'weights.safetensors');
    const data = join(cmd.dir, 'data.safetensors');
    saveSafetensors(weights, this.net.stateDict());
    saveSafetensors(data, { x: this.x, z: this.z, sigma_student: this.sStudent, sigma_teacher: this.sTeacher, weight: this.weight });
    // After the weights are written (a file has no layout): channels-last replaces the parameters, so before Adam takes them.
    if (cmd.channelsLast === true) this.net.channelsLast();
    this.device = cmd.device ?? 'cpu';
    this.precision = parsePrecision(cmd.precision ?? 'fp32');
    if (this.device !== 'cpu') {
      this.net.to(this.device);
      this.dropout = new Generator(cmd.seed + 1, this.device);
      this.net.setGenerator(this.dropout);
      for (const k of ['x', 'z', 'sStudent', 'sTeacher', 'weight'] as const) {
        const moved = keep(this[k].to({ device: this.device }));
        this[k].dispose();
        this[k] = moved;
      }
    }
    this.adam = new Adam(this.net, { lr: preset.config.training.optimizer.lr });
    return {
      params: this.net.parameterCount(),
      threads: getNumThreads(),
      weights,
      data,
      config: preset.config.network,
      lr: preset.config.training.optimizer.lr,
      torch: native.buildInfo().torchVersion,
    };
  }

  /** The batch loss; the teacher pass replays the student's dropout masks. */
  loss(): Tensor {
    return tidy(() => {
      const state = this.dropout.getState();
      const student = fTheta(this.net, this.x.add(this.sStudent.reshape([-1, 1, 1, 1]).mul(this.z)), this.sStudent);
      this.dropout.setState(state);
      const teacher = noGrad(() => fTheta(this.net, this.x.add(this.sTeacher.reshape([-1, 1, 1, 1]).mul(this.z)), this.sTeacher));
      const sq = student.sub(teacher).square().flatten(1).sum(1);
      return this.weight
        .mul(
          sq
            .add(this.c ** 2)
            .sqrt()
            .sub(this.c),
        )
        .mean();
    });
  }

  loss0(): Record<string, unknown> {
    this.net.eval();
    const value = tidy(() => noGrad(() => this.loss()).item());
    this.net.train();
    return { loss: value };
  }

  steps(cmd: { n: number }): Record<string, unknown> {
    this.net.train();
    const ms: number[] = [];
    const cpuMs: number[] = [];
    const losses: number[] = [];
    for (let i = 0; i < cmd.n; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      this.adam.zeroGrad();
      const loss = autocast(this.precision, this.device, () => this.loss());
      loss.backward();
      this.adam.step();
      losses.push(loss.item());
      loss.dispose();
      ms.push(performance.now() - t0);
      const cpu = process.cpuUsage(c0);
      cpuMs.push((cpu.user + cpu.system) / 1000);
    }
    return { ms, cpu_ms: cpuMs, losses };
  }

  /** K one-step samples of the batch, timed: f(sigma_max z, sigma_max) in eval mode without gradients (docs/method.md section 6). */
  sample(cmd: { n: number }): Record<string, unknown> {
    this.net.eval();
    const ms: number[] = [];
    try {
      for (let i = 0; i < cmd.n; i++) {
        const t0 = performance.now();
        tidy(() =>
          noGrad(() =>
            fTheta(this.net, this.z.mul(SIGMA_MAX), full([this.z.shape[0]!], SIGMA_MAX))
              .sum()
              .item(),
          ),
        );
        ms.push(performance.now() - t0);
      }
    } finally {
      this.net.train();
    }
    return { ms };
  }

  rss(): Record<string, unknown> {
    return { maxrss_kb: process.resourceUsage().maxRSS };
  }
}

const worker = new Worker();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let reply: Record<string, unknown>;
  try {
    const cmd = JSON.parse(line) as { op: string } & Record<string, unknown>;
    if (cmd.op === 'quit') {
      rl.close();
      return;
    }
    if (cmd.op === 'hello') reply = { pid: process.pid };
    else if (cmd.op === 'init') reply = worker.init(cmd as unknown as Parameters<Worker['init']>[0]);
    else if (cmd.op === 'loss0') reply = worker.loss0();
    else if (cmd.op === 'steps') reply = worker.steps(cmd as unknown as { n: number });
    else if (cmd.op === 'sample') reply = worker.sample(cmd as unknown as { n: number });
    else if (cmd.op === 'rss') reply = worker.rss();
    else throw new Error(`unknown op '${cmd.op}'`);
  } catch (e) {
    reply = { error: e instanceof Error ? e.message : String(e) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});

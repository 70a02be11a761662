/**
 * The consistency training loss (docs/method.md section 4), for iCT and the original CT:
 *
 *   z ~ N(0, I), one draw shared by both terms
 *   student = f_theta      (x + sigma_{i+1} z, sigma_{i+1})     (gets gradients)
 *   teacher = f_theta_minus(x + sigma_i     z, sigma_i)         (no gradients)
 *   loss    = mean over the batch of lambda(sigma_i) d(student, teacher)
 *
 * The teacher is stopgrad(theta) (iCT: the same network, run under noGrad) or an EMA network
 * (CT). Both passes draw the same dropout mask: the network's generator state is saved before the
 * student pass and restored before the teacher pass. Which ingredients are used (teacher, metric,
 * weighting, level distribution) comes from a MethodConfig (src/method/presets.ts).
 *
 * Pair indices are 0-based as in src/method/schedules.ts: index j is the pair
 * (sigmas[j], sigmas[j+1]), docs/method.md's i = j + 1.
 */
import type { Tensor } from '../tensor/tensor.js';
import { randnLike, tensor } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import { ConsistencyDenoiser, type ConsistencyNetwork } from './denoiser.js';
import { sampleDistance, type LearnedMetric, type SampleDistance } from './metrics.js';
import type { LevelSchedule, MethodConfig } from './presets.js';
import type { NoiseEmbedding } from './scalings.js';
import { sampleLevelIndices } from './schedules.js';

/** Options of {@link ConsistencyLoss}. */
export interface ConsistencyLossOptions {
  /** The network behind metric 'lpips'. */
  learnedMetric?: LearnedMetric;
  /** c_noise form of the network (default 'fourier'). */
  noiseEmbedding?: NoiseEmbedding;
}

/** Noise levels from a schedule: explicit pair indices, or drawn from p(i) with `rng`. */
export interface ScheduledLevels {
  schedule: LevelSchedule;
  /** 0-based pair indices, one per sample, each in [0, N-2]. */
  indices?: readonly number[];
  /** Draws the indices from schedule.probabilities when `indices` is absent (uniform in [0, 1) per call). */
  rng?: () => number;
}

/** Noise levels given per sample (for tests and experiments). */
export interface ExplicitLevels {
  /** sigma_i per sample (teacher). */
  sigmaTeacher: readonly number[];
  /** sigma_{i+1} per sample (student), each >= sigma_i. */
  sigmaStudent: readonly number[];
  /** lambda per sample; default from config.weighting (inverse-gap needs sigma_{i+1} > sigma_i). */
  weights?: readonly number[];
}

/** What one loss evaluation needs. */
export interface ConsistencyLossInputs {
  /** The student's raw network F_theta. */
  network: ConsistencyNetwork;
  /** The teacher's raw network F_theta_minus for teacher 'ema' (an EMA copy); omit for 'stopgrad'. */
  teacherNetwork?: ConsistencyNetwork;
  /** Clean data x, [N, ...]. */
  x: Tensor;
  /** Class labels passed to both passes. */
  classLabels?: Tensor;
  levels: ScheduledLevels | ExplicitLevels;
  /** The noise z (shape of x); drawn from noiseGenerator when absent. */
  noise?: Tensor;
  /** Source of z when `noise` is absent (libtorch's default generator when both are absent). */
  noiseGenerator?: Generator;
  /** Also return the student and teacher outputs. */
  returnOutputs?: boolean;
}

/** One loss evaluation. */
export interface ConsistencyLossResult {
  /** The mean over the batch of lambda d(student, teacher): a scalar with gradients. */
  loss: Tensor;
  /** d(student, teacher) per sample, [N], detached. */
  distances: Tensor;
  /** lambda per sample. */
  weights: number[];
  /** sigma_i per sample. */
  sigmaTeacher: number[];
  /** sigma_{i+1} per sample. */
  sigmaStudent: number[];
  /** The 0-based pair indices, or null for explicit levels. */
  levelIndices: number[] | null;
  /** The student's output (with gradients), when returnOutputs. */
  student?: Tensor;
  /** The teacher's output (no gradients), when returnOutputs. */
  teacher?: Tensor;
}

function fail(what: string): never {
  throw new RangeError(`ConsistencyLoss: ${what}`);
}

/** The consistency training loss of docs/method.md section 4 for one method config. */
export class ConsistencyLoss {
  readonly distance: SampleDistance;
  readonly noiseEmbedding: NoiseEmbedding;

  constructor(readonly config: MethodConfig, options: ConsistencyLossOptions = {}) {
    this.distance = sampleDistance(config.metric, { learnedMetric: options.learnedMetric });
    this.noiseEmbedding = options.noiseEmbedding ?? 'fourier';
  }

  /** The levels and weights per sample from either form of `levels`. */
  private resolveLevels(levels: ScheduledLevels | ExplicitLevels, batch: number): Omit<ConsistencyLossResult, 'loss' | 'distances'> {
    if ('schedule' in levels) {
      const { schedule } = levels;
      const pairs = schedule.sigmas.length - 1;
      let indices: number[];
      if (levels.indices) indices = Array.from(levels.indices);
      else if (levels.rng) indices = sampleLevelIndices(schedule.probabilities, batch, levels.rng);
      else fail('levels need indices or an rng to draw them from the schedule');
      if (indices.length !== batch) fail(`levelIndices must give one index per sample (${batch}), got ${indices.length}`);
      indices.forEach((j, k) => {
        if (!Number.isSafeInteger(j) || j < 0 || j >= pairs)
          fail(`levelIndices[${k}] must be an integer in [0, ${pairs - 1}] (0-based pair index; the spec's i = 1..${pairs}), got ${j}`);
      });
      return {
        levelIndices: indices,
        sigmaTeacher: indices.map((j) => schedule.sigmas[j]!),
        sigmaStudent: indices.map((j) => schedule.sigmas[j + 1]!),
        weights: indices.map((j) => schedule.weights[j]!),
      };
    }
    const sigmaTeacher = Array.from(levels.sigmaTeacher);
    const sigmaStudent = Array.from(levels.sigmaStudent);
    if (sigmaTeacher.length !== batch || sigmaStudent.length !== batch)
      fail(`sigmaTeacher and sigmaStudent must give one level per sample (${batch}), got ${sigmaTeacher.length} and ${sigmaStudent.length}`);
    for (let k = 0; k < batch; k++) {
      const lo = sigmaTeacher[k]!;
      const hi = sigmaStudent[k]!;
      if (!Number.isFinite(lo) || lo <= 0) fail(`sigmaTeacher[${k}] must be a finite number > 0, got ${lo}`);
      if (!Number.isFinite(hi) || hi < lo) fail(`sigmaStudent[${k}] must be a finite number >= sigmaTeacher[${k}]=${lo}, got ${hi}`);
    }
    let weights: number[];
    if (levels.weights) {
      weights = Array.from(levels.weights);
      if (weights.length !== batch) fail(`weights must give one value per sample (${batch}), got ${weights.length}`);
      weights.forEach((w, k) => {
        if (!Number.isFinite(w) || w < 0) fail(`weights[${k}] must be a finite number >= 0, got ${w}`);
      });
    } else if (this.config.weighting === 'constant') weights = new Array<number>(batch).fill(1);
    else {
      weights = sigmaStudent.map((hi, k) => {
        const gap = hi - sigmaTeacher[k]!;
        if (!(gap > 0)) fail(`inverse-gap weighting needs sigmaStudent[${k}] > sigmaTeacher[${k}], got both ${hi} (give weights explicitly)`);
        return 1 / gap;
      });
    }
    return { levelIndices: null, sigmaTeacher, sigmaStudent, weights };
  }

  /**
   * Evaluates the loss. Call inside tidy(); `loss` carries gradients to the student's parameters
   * only.
   *
   * @throws RangeError for a level index outside [0, N-2], a sigma that is not > 0 (or below
   *   sigma_min), a missing teacher network for 'ema', or a network in training mode without a
   *   dropout generator (the passes could not share masks).
   */
  compute(inputs: ConsistencyLossInputs): ConsistencyLossResult {
    const { network, x, classLabels } = inputs;
    const batch = x.shape[0];
    if (batch === undefined || batch < 1) fail(`x must be a batch [N, ...] with N >= 1, got [${x.shape.join(', ')}]`);
    const levels = this.resolveLevels(inputs.levels, batch);

    // The teacher theta_minus (docs/method.md section 4): the same weights (iCT) or an EMA network (CT).
    let teacherNetwork: ConsistencyNetwork;
    if (this.config.teacher === 'stopgrad') {
      if (inputs.teacherNetwork && inputs.teacherNetwork !== network)
        fail("teacher 'stopgrad' uses the student's own weights; a separate teacherNetwork was given (set teacher: 'ema' to use it)");
      teacherNetwork = network;
    } else {
      if (!inputs.teacherNetwork) fail("teacher 'ema' needs a teacherNetwork (the EMA copy of the student)");
      teacherNetwork = inputs.teacherNetwork;
    }
    for (const [who, net] of [['network', network], ['teacherNetwork', teacherNetwork]] as const)
      if (net.training === true && net.generator === undefined)
        fail(`${who} is in training mode without a dropout generator; call setGenerator(new Generator(seed)) so the student and teacher passes share dropout masks (docs/method.md section 4)`);

    const denoiserOptions = { sigmaMin: this.config.sigmaMin, sigmaData: this.config.sigmaData, noiseEmbedding: this.noiseEmbedding };
    const student = new ConsistencyDenoiser(network, denoiserOptions);
    const teacher = teacherNetwork === network ? student : new ConsistencyDenoiser(teacherNetwork, denoiserOptions);

    // One draw of z for both terms.
    let z: Tensor;
    if (inputs.noise) {
      if (inputs.noise.shape.join(',') !== x.shape.join(','))
        fail(`noise must have the shape of x [${x.shape.join(', ')}], got [${inputs.noise.shape.join(', ')}]`);
      z = inputs.noise;
    } else z = randnLike(x, inputs.noiseGenerator);

    const perSample = [batch, ...x.shape.slice(1).map(() => 1)];
    const column = (values: number[]): Tensor => tensor(Float64Array.from(values), perSample, { dtype: 'float64', device: x.device }).toDtype(x.dtype);

    // Student pass, with gradients; remember the dropout generator's state first.
    const studentGenerator = network.generator;
    const dropoutState = studentGenerator?.getState();
    const studentOut = student.forward(x.add(z.mul(column(levels.sigmaStudent))), levels.sigmaStudent, classLabels);

    // Teacher pass, without gradients, replaying the same dropout draws.
    const teacherOut = noGrad(() => {
      if (dropoutState) {
        studentGenerator!.setState(dropoutState);
        const tg = teacherNetwork.generator;
        if (tg && tg !== studentGenerator) tg.setState(dropoutState);
      }
      return teacher.forward(x.add(z.mul(column(levels.sigmaTeacher))), levels.sigmaTeacher, classLabels).detach();
    });

    const distances = this.distance(studentOut, teacherOut);
    const weightT = tensor(Float64Array.from(levels.weights), [batch], { dtype: 'float64', device: x.device }).toDtype(distances.dtype);
    const loss = distances.mul(weightT).mean();
    const result: ConsistencyLossResult = { loss, distances: distances.detach(), ...levels };
    if (inputs.returnOutputs) {
      result.student = studentOut;
      result.teacher = teacherOut;
    }
    return result;
  }
}

/**
 * The consistency training loss (docs/method.md section 4), for iCT and the original CT:
 *
 *   z ~ N(0, I), one draw shared by both terms
 *   student = f_theta      (x + sigma_{i+1} z, sigma_{i+1})     (gets gradients)
 *   teacher = f_theta_minus(x + sigma_i     z, sigma_i)         (no gradients)
 *   losses  = lambda(sigma_i) d(student, teacher), one value per sample, unreduced
 *
 * As in EDM's losses the caller reduces: the training step (src/train/step.ts) sums each
 * micro-batch's values and divides by the global batch size, so micro-batches and data-parallel
 * ranks add up without rescaling. The student and teacher are consistency functions f
 * (ConsistencyDenoiser): stopgrad(theta) (iCT: the student itself, run under noGrad) or an EMA
 * network (CT). Both passes draw the same dropout mask: the student pass runs inside the dropout
 * generator's replay(), so the teacher pass draws the same numbers. Which ingredients are used
 * (teacher, metric, weighting, level distribution) comes from a MethodConfig (src/method/presets.ts).
 *
 * Pair indices are 0-based as in src/method/schedules.ts: index j is the pair
 * (sigmas[j], sigmas[j+1]), docs/method.md's i = j + 1.
 */
import type { Tensor } from '../tensor/tensor.js';
import { randnLike, tensor } from '../tensor/creation.js';
import { noGrad } from '../tensor/autograd.js';
import type { Generator } from '../tensor/random.js';
import type { ConsistencyDenoiser } from './denoiser.js';
import { sampleDistance, type LearnedMetric, type SampleDistance } from './metrics.js';
import type { MethodConfig } from './presets.js';
import { sampleLevelIndices, type LevelSchedule } from './schedules.js';

/** Options of {@link ConsistencyLoss}. */
export interface ConsistencyLossOptions {
  /** The network behind metric 'lpips'. */
  learnedMetric?: LearnedMetric;
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
  /** The student f_theta (gets gradients). */
  student: ConsistencyDenoiser;
  /** The teacher f_theta_minus for teacher 'ema' (around an EMA copy of the network); omit for 'stopgrad'. */
  teacher?: ConsistencyDenoiser | undefined;
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
  /** lambda(sigma_i) d(student, teacher) per sample, [N], with gradients; unreduced (the caller sums or averages). */
  losses: Tensor;
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

  constructor(
    readonly config: MethodConfig,
    options: ConsistencyLossOptions = {},
  ) {
    this.distance = sampleDistance(config.metric, options.learnedMetric ? { learnedMetric: options.learnedMetric } : {});
  }

  /** The levels and weights per sample from either form of `levels`. */
  private resolveLevels(levels: ScheduledLevels | ExplicitLevels, batch: number): Omit<ConsistencyLossResult, 'losses' | 'distances'> {
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
   * Evaluates the loss. Call inside tidy(); `losses` carries gradients to the student's parameters
   * only.
   *
   * @throws RangeError for a level index outside [0, N-2], a sigma that is not > 0 (or below
   *   sigma_min), a missing teacher for 'ema', denoisers whose sigma_min or sigma_data differ from
   *   the config's, or a network in training mode without a dropout generator (the passes could not
   *   share masks).
   */
  compute(inputs: ConsistencyLossInputs): ConsistencyLossResult {
    const { student, x, classLabels } = inputs;
    const batch = x.shape[0];
    if (batch === undefined || batch < 1) fail(`x must be a batch [N, ...] with N >= 1, got [${x.shape.join(', ')}]`);
    const levels = this.resolveLevels(inputs.levels, batch);

    // The teacher theta_minus (docs/method.md section 4): the student itself (iCT) or an EMA network (CT).
    let teacher: ConsistencyDenoiser;
    if (this.config.teacher === 'stopgrad') {
      if (inputs.teacher && inputs.teacher !== student && inputs.teacher.network !== student.network)
        fail("teacher 'stopgrad' uses the student's own weights; a separate teacher was given (set teacher: 'ema' to use it)");
      teacher = student;
    } else {
      if (!inputs.teacher) fail("teacher 'ema' needs a teacher (a ConsistencyDenoiser around the EMA copy of the student's network)");
      teacher = inputs.teacher;
    }
    for (const [who, f] of [
      ['student', student],
      ['teacher', teacher],
    ] as const) {
      if (f.sigmaMin !== this.config.sigmaMin || f.sigmaData !== this.config.sigmaData || f.noiseEmbedding !== this.config.noiseEmbedding)
        fail(
          `the ${who} has sigmaMin=${f.sigmaMin}, sigmaData=${f.sigmaData}, noiseEmbedding=${f.noiseEmbedding} but the method config ` +
            `${this.config.sigmaMin}, ${this.config.sigmaData}, ${this.config.noiseEmbedding} (ConsistencyDenoiser.forMethod builds a matching one)`,
        );
      if (f.network.training === true && f.network.generator === undefined)
        fail(
          `the ${who}'s network is in training mode without a dropout generator; call setGenerator(new Generator(seed)) so the student and teacher passes share dropout masks (docs/method.md section 4)`,
        );
    }

    // One draw of z for both terms.
    let z: Tensor;
    if (inputs.noise) {
      if (inputs.noise.shape.join(',') !== x.shape.join(','))
        fail(`noise must have the shape of x [${x.shape.join(', ')}], got [${inputs.noise.shape.join(', ')}]`);
      z = inputs.noise;
    } else z = randnLike(x, inputs.noiseGenerator);

    const perSample = [batch, ...x.shape.slice(1).map(() => 1)];
    const column = (values: number[]): Tensor =>
      tensor(Float64Array.from(values), perSample, { dtype: 'float64', device: x.device }).toDtype(x.dtype);

    // Student pass, with gradients, inside the dropout generator's replay: afterwards the
    // generator is back where it started, so the teacher pass draws the same masks. A teacher with
    // a generator of its own (CT) is set to the same starting state.
    const studentPass = (): Tensor => student.forward(x.add(z.mul(column(levels.sigmaStudent))), levels.sigmaStudent, classLabels);
    const dropout = student.network.generator;
    const teacherGenerator = teacher.network.generator;
    if (dropout && teacherGenerator && teacherGenerator !== dropout) teacherGenerator.setState(dropout.getState());
    const studentOut = dropout ? dropout.replay(studentPass) : studentPass();

    // Teacher pass, without gradients.
    const teacherOut = noGrad(() => teacher.forward(x.add(z.mul(column(levels.sigmaTeacher))), levels.sigmaTeacher, classLabels).detach());

    const distances = this.distance(studentOut, teacherOut);
    const weightT = tensor(Float64Array.from(levels.weights), [batch], { dtype: 'float64', device: x.device }).toDtype(distances.dtype);
    const losses = distances.mul(weightT);
    const result: ConsistencyLossResult = { losses, distances: distances.detach(), ...levels };
    if (inputs.returnOutputs) {
      result.student = studentOut;
      result.teacher = teacherOut;
    }
    return result;
  }
}

/**
 * The training checkpoint: ONE safetensors file holding everything a run needs to continue
 * exactly where it stopped, written atomically (src/io/atomic.ts: temporary file, fsync, rename),
 * so the file under the final name is always either the previous checkpoint or the new one.
 *
 * Layout:
 * - tensors `<group>/<name>`: groups 'model' (the trained weights), 'ema' (the evaluation EMA),
 *   'optimizer' (its state as named tensors), 'teacher' (CT's EMA teacher), ...
 * - tensors `rng/<name>`: the states of libtorch generators as uint8 bytes ('dropout').
 * - `__metadata__`: format, version, step, `config` (the resolved run config, JSON), `state` (JSON:
 *   data loader position, counters), `data_sha256` (SHA-256 of the data section,
 *   so a flipped byte is reported as corruption instead of silently loading wrong weights).
 *
 * A checkpoint whose floating-point tensors hold NaN or infinity is never written.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { parseSafetensors, readSafetensorsHeader, serializeSafetensors } from '../io/safetensors.js';
import { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/creation.js';
import { isFloating } from '../tensor/dtype.js';
import { tidy } from '../tensor/scope.js';
import type { Generator } from '../tensor/random.js';
import type { Module } from '../nn/module.js';
import type { ExponentialMovingAverage } from '../method/ema.js';
import { BatchLoader, type LoaderState } from '../data/loader.js';
import type { ImageDataset } from '../data/types.js';
import { isJsonObject, type JsonObject } from './json.js';
import { oneLine } from '../io/one-line.js';
import { InputError } from '../util/input-error.js';

/** The value of `__metadata__.format`. */
export const CHECKPOINT_FORMAT = 'consistency-ts/checkpoint';
/** The layout version this code writes and reads. */
export const CHECKPOINT_VERSION = 1;
/** The checkpoint's file name inside a run directory. */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';

/** A missing, corrupt or unusable checkpoint: one line, exit code 2 in the CLI. */
export class CheckpointError extends InputError {
  override name = 'CheckpointError';
  /** The message is made one printable line (it may quote what the file holds). */
  constructor(message: string) {
    super(oneLine(message));
  }
}

/** Everything in a checkpoint. */
export interface Checkpoint {
  /** Optimizer steps completed. */
  step: number;
  /** The resolved run config (plain JSON). */
  config: JsonObject;
  /** Named tensor groups ('model', 'ema', 'optimizer', 'teacher', ...). */
  groups: Map<string, Map<string, Tensor>>;
  /** libtorch generator states (Generator.getState() bytes) by name. */
  generators: Map<string, Uint8Array>;
  /** Every other piece of resumable state, as JSON. */
  state: JsonObject;
}

/** `path` itself when it is a file, `path/checkpoint.safetensors` when it is a run directory. */
export function resolveCheckpointPath(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new CheckpointError(`${path}: no such checkpoint file or run directory`);
  }
  if (!st.isDirectory()) return path;
  const file = join(path, CHECKPOINT_FILE);
  try {
    if (statSync(file).isFile()) return file;
  } catch {
    /* reported below */
  }
  throw new CheckpointError(`${path}: run directory has no ${CHECKPOINT_FILE}`);
}

const GROUP_NAME = /^[A-Za-z0-9_-]+$/;

/** Names of the floating tensors that hold NaN or infinity. */
export function nonFiniteTensors(groups: Map<string, Map<string, Tensor>>): string[] {
  const bad: string[] = [];
  for (const [g, tensors] of groups) {
    for (const [n, t] of tensors) {
      if (!isFloating(t.dtype)) continue;
      if (!tidy(() => t.isfinite().all())) bad.push(`${g}/${n}`);
    }
  }
  return bad;
}

/** The safetensors bytes of a checkpoint (chunks, in file order). */
export function serializeCheckpoint(ckpt: Checkpoint): Uint8Array[] {
  const bad = nonFiniteTensors(ckpt.groups);
  if (bad.length > 0) {
    throw new CheckpointError(
      `refusing to write a checkpoint at step ${ckpt.step} with NaN or infinite values in ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ` and ${bad.length - 5} more` : ''}`,
    );
  }
  const named = new Map<string, Tensor>();
  const temporaries: Tensor[] = [];
  try {
    for (const [g, tensors] of ckpt.groups) {
      if (!GROUP_NAME.test(g) || g === 'rng') throw new Error(`checkpoint: invalid group name '${g}'`);
      for (const [n, t] of tensors) named.set(`${g}/${n}`, t);
    }
    for (const [n, bytes] of ckpt.generators) {
      const t = tensor(bytes, [bytes.length], { dtype: 'uint8', device: 'cpu' });
      temporaries.push(t);
      named.set(`rng/${n}`, t);
    }
    const metadata: Record<string, string> = {
      format: CHECKPOINT_FORMAT,
      version: String(CHECKPOINT_VERSION),
      step: String(ckpt.step),
      config: JSON.stringify(ckpt.config),
      state: JSON.stringify(ckpt.state),
    };
    const chunks = serializeSafetensors(named, metadata);
    // Add the data section's SHA-256 to the header. Data offsets are relative to the data
    // section, so rewriting the header (and its length prefix) leaves them valid.
    const hash = createHash('sha256');
    for (const c of chunks.slice(2)) hash.update(c);
    const header = JSON.parse(new TextDecoder().decode(chunks[1])) as Record<string, unknown>;
    (header.__metadata__ as Record<string, string>).data_sha256 = hash.digest('hex');
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
    const headerBytes = new TextEncoder().encode(json);
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
    return [len, headerBytes, ...chunks.slice(2)];
  } finally {
    for (const t of temporaries) t.dispose();
  }
}

/**
 * Writes a checkpoint atomically: a crash or a failed write leaves the previous file under
 * `path` untouched, and no partial file ever appears under that name.
 *
 * @throws CheckpointError when a floating tensor holds NaN or infinity (nothing is written).
 * @throws FileWriteError when the file cannot be written (disk full, read-only folder); the previous file is kept.
 */
export function writeCheckpoint(path: string, ckpt: Checkpoint): void {
  writeFileAtomic(path, serializeCheckpoint(ckpt), 'checkpoint');
}

/**
 * Reads a checkpoint file, or `checkpoint.safetensors` of a run directory, with its tensors on
 * `device` (default: the default device). Everything is checked before use: a missing file, a
 * truncated or corrupt file (data hash), another format or version are CheckpointErrors.
 */
export function readCheckpoint(path: string, options: { device?: string } = {}): Checkpoint {
  const file = resolveCheckpointPath(path);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new CheckpointError(`${file}: cannot read: ${(e as Error).message}`);
  }
  let loaded;
  try {
    loaded = parseSafetensors(bytes, file, options.device !== undefined ? { device: options.device } : {});
  } catch (e) {
    throw new CheckpointError(`${file}: corrupt checkpoint: ${(e as Error).message.replace(`${file}: `, '')}`);
  }
  const { tensors, metadata } = loaded;
  const fail = (msg: string): never => {
    for (const t of tensors.values()) t.dispose();
    throw new CheckpointError(`${file}: ${msg}`);
  };
  if (metadata.format !== CHECKPOINT_FORMAT) {
    return fail(
      `not a consistency-ts training checkpoint (metadata format is ${JSON.stringify(metadata.format ?? null)}, expected '${CHECKPOINT_FORMAT}')`,
    );
  }
  if (metadata.version !== String(CHECKPOINT_VERSION)) {
    return fail(`checkpoint layout version ${metadata.version} is not supported (this program reads version ${CHECKPOINT_VERSION})`);
  }
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const digest = createHash('sha256')
    .update(bytes.subarray(8 + headerLength))
    .digest('hex');
  if (digest !== metadata.data_sha256) return fail('corrupt checkpoint: the tensor data does not match its SHA-256 recorded in the header');
  const step = Number(metadata.step);
  if (!Number.isSafeInteger(step) || step < 0) return fail(`corrupt checkpoint: bad step ${JSON.stringify(metadata.step)}`);
  let config: unknown;
  let state: unknown;
  try {
    config = JSON.parse(metadata.config ?? '');
    state = JSON.parse(metadata.state ?? '');
  } catch {
    return fail('corrupt checkpoint: its config or state metadata is not JSON');
  }
  if (!isJsonObject(config) || !isJsonObject(state)) return fail('corrupt checkpoint: its config or state metadata is not a JSON object');

  const groups = new Map<string, Map<string, Tensor>>();
  const generators = new Map<string, Uint8Array>();
  for (const [name, t] of tensors) {
    const slash = name.indexOf('/');
    if (slash <= 0) return fail(`corrupt checkpoint: tensor '${name}' has no group prefix`);
    const group = name.slice(0, slash);
    const local = name.slice(slash + 1);
    if (group === 'rng') {
      if (t.dtype !== 'uint8') return fail(`corrupt checkpoint: generator state '${name}' is ${t.dtype}, expected uint8`);
      generators.set(local, t.bytes());
      t.dispose();
      continue;
    }
    let g = groups.get(group);
    if (!g) groups.set(group, (g = new Map<string, Tensor>()));
    g.set(local, t);
  }
  return { step, config, groups, generators, state };
}

/** Reads only the config and step of a checkpoint from its header (no tensor data is read or checked). */
export function readCheckpointConfig(path: string): { file: string; step: number; config: JsonObject } {
  const file = resolveCheckpointPath(path);
  let metadata: Record<string, string>;
  try {
    metadata = readSafetensorsHeader(file).metadata;
  } catch (e) {
    throw new CheckpointError(`${file}: corrupt checkpoint: ${(e as Error).message.replace(`${file}: `, '')}`);
  }
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${file}: not a consistency-ts training checkpoint (metadata format is ${JSON.stringify(metadata.format ?? null)}, expected '${CHECKPOINT_FORMAT}')`,
    );
  }
  let config: unknown;
  try {
    config = JSON.parse(metadata.config ?? '');
  } catch {
    config = undefined;
  }
  const step = Number(metadata.step);
  if (!isJsonObject(config) || !Number.isSafeInteger(step)) throw new CheckpointError(`${file}: corrupt checkpoint: bad config or step metadata`);
  return { file, step, config };
}

/** Frees every tensor of a checkpoint. */
export function disposeCheckpoint(ckpt: Checkpoint): void {
  for (const g of ckpt.groups.values()) for (const t of g.values()) t.dispose();
}

/** The tensors of one group, or a CheckpointError naming the group. */
export function checkpointGroup(ckpt: Checkpoint, group: string, file = 'checkpoint'): Map<string, Tensor> {
  const g = ckpt.groups.get(group);
  if (!g) throw new CheckpointError(`${file}: checkpoint has no '${group}' tensors`);
  return g;
}

/** The live objects of a training run that its checkpoint saves and restores. */
export interface TrainingState {
  /** Optimizer steps completed. */
  step: number;
  network: Module;
  ema: ExponentialMovingAverage;
  /** CT's EMA teacher (null for iCT). */
  teacher: Module | null;
  optimizer: { stateTensors(): Map<string, Tensor>; stateJson(): JsonObject; loadState(tensors: Map<string, Tensor>, json: JsonObject): void };
  dropoutGenerator: Generator;
  loader: BatchLoader;
}

/**
 * The checkpoint of a run's current state (the tensors are the live ones: do not dispose them).
 * The noise and level draws need no generator state: they follow from (seed, step, sample index)
 * (src/train/draws.ts).
 */
export function trainingCheckpoint(s: TrainingState, config: JsonObject): Checkpoint {
  const groups = new Map<string, Map<string, Tensor>>([
    ['model', s.network.stateDict()],
    ['ema', s.ema.stateDict()],
    ['optimizer', s.optimizer.stateTensors()],
  ]);
  if (s.teacher) groups.set('teacher', s.teacher.stateDict());
  return {
    step: s.step,
    config,
    groups,
    generators: new Map([['dropout', s.dropoutGenerator.getState()]]),
    state: { loader: s.loader.state() as unknown as JsonObject, emaUpdates: s.ema.updates, optimizer: s.optimizer.stateJson() },
  };
}

/**
 * Loads a checkpoint's weights, EMA, teacher, optimizer state and dropout generator into the live
 * objects of `s` (the config must already have been compared), frees the checkpoint's tensors, and
 * returns the step and the data loader at its saved position.
 */
export function restoreTrainingState(
  ckpt: Checkpoint,
  s: Omit<TrainingState, 'step' | 'loader'>,
  dataset: ImageDataset,
): { step: number; loader: BatchLoader } {
  const state = ckpt.state;
  s.network.loadStateDict(checkpointGroup(ckpt, 'model'));
  s.ema.loadStateDict(checkpointGroup(ckpt, 'ema'), typeof state.emaUpdates === 'number' ? state.emaUpdates : ckpt.step);
  if (s.teacher) s.teacher.loadStateDict(checkpointGroup(ckpt, 'teacher'));
  s.optimizer.loadState(checkpointGroup(ckpt, 'optimizer'), isJsonObject(state.optimizer) ? state.optimizer : {});
  const dropout = ckpt.generators.get('dropout');
  if (!dropout) throw new CheckpointError("checkpoint has no 'dropout' generator state");
  s.dropoutGenerator.setState(dropout);
  disposeCheckpoint(ckpt);
  if (!isJsonObject(state.loader)) throw new CheckpointError('checkpoint state: no data loader position');
  return { step: ckpt.step, loader: BatchLoader.fromState(dataset, state.loader as unknown as LoaderState) };
}

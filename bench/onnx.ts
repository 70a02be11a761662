/**
 * The ONNX benchmark (issue 11): one-step generation, f(sigma_max z, sigma_max) clipped to
 * [-1, 1], of mnist-quick, cifar10-cpu and the paper's 56M cifar10 network, in images per second:
 * this project's libtorch path (src/method sampleOneStep), onnxruntime-node through
 * consistency-ts/generate on the exported model, and PyTorch eager (bench/onnx_ref.py, the
 * reference networks of test/reference/networks_ref.py) with the same weights, noise, batch and
 * threads. Passes alternate between the three sides, the order rotating every round, and the
 * figures are medians (the machine is shared). All three outputs must agree before timing.
 * onnxruntime's thread spinning is turned off so that it leaves the cores to the other sides.
 * Then the page of `consistency web` in headless Chromium (onnxruntime-web, wasm): milliseconds
 * per image of its Generate button, the median of a few clicks after one warm-up.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark, BenchOptions, BenchRecord } from './registry.js';
import { TorchPeer } from './torch_peer.js';
import { median, round } from './stats.js';
import { Generator, noGrad, randn, setNumThreads, getNumThreads, type Tensor } from '../src/tensor/index.js';
import { buildNetwork } from '../src/train/presets.js';
import { ConsistencyDenoiser } from '../src/method/denoiser.js';
import { sampleOneStep } from '../src/method/samplers.js';
import { runPreset } from '../src/train/presets.js';
import { runConfigToJson } from '../src/train/config.js';
import { writeCheckpoint } from '../src/train/checkpoint.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { exportConsistencyOnnx } from '../src/export/export.js';
import { loadGenerator } from '../src/generate/index.js';

const WORKLOADS = [
  { preset: 'mnist-quick', batch: 16, rounds: 15, browserImages: 16 },
  { preset: 'cifar10-cpu', batch: 16, rounds: 15, browserImages: 16 },
  { preset: 'cifar10', batch: 4, rounds: 5, browserImages: 4 },
] as const;

/** Relative difference of the outputs' absolute sums above which the sides do not compute the same thing. */
const AGREEMENT = 1e-3;

function absSum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += Math.abs(values[i]!);
  return s;
}

async function runOnnxBench(o: BenchOptions, emit: (r: BenchRecord) => void, log: (l: string) => void): Promise<void> {
  for (const w of WORKLOADS) {
    for (const threads of o.threads ?? [2]) {
      const dir = mkdtempSync(join(tmpdir(), 'consistency-bench-onnx-'));
      try {
        emit(await runWorkload(w, threads, o, dir, log));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

async function runWorkload(
  w: (typeof WORKLOADS)[number],
  threads: number,
  o: BenchOptions,
  dir: string,
  log: (l: string) => void,
): Promise<BenchRecord> {
  const config = runPreset(w.preset);
  if (!config) throw new Error(`onnx bench: no preset ${w.preset}`);
  setNumThreads(threads);
  const net = buildNetwork(w.preset, { generator: new Generator(0) }).eval();
  const c = config.network;
  const shape = [w.batch, c.inChannels, c.imgResolution, c.imgResolution];
  const z: Tensor = randn(shape, { generator: new Generator(1) });
  const m = config.method;
  const den = new ConsistencyDenoiser(net, { sigmaMin: m.sigmaMin, sigmaData: m.sigmaData, noiseEmbedding: config.method.noiseEmbedding });
  const weights = join(dir, 'weights.safetensors');
  const data = join(dir, 'data.safetensors');
  saveSafetensors(weights, net.stateDict());
  saveSafetensors(data, { z });
  const zValues = z.toFloat32Array();
  const py = new TorchPeer('bench/onnx_ref.py');
  const gen = await loadGenerator(exportConsistencyOnnx(net, config), {
    batch: w.batch,
    sessionOptions: {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      // onnxruntime's idle threads spin after each run by default, which would take the cores from
      // the libtorch and PyTorch passes that follow it in the interleaved rounds.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    },
  });
  try {
    const hello = await py.request<{ torch: string }>({ op: 'hello' });
    const init = await py.request<{ threads: number; abs_sum: number }>({
      op: 'init',
      config: c,
      weights,
      data,
      threads,
      sigma_max: m.sigmaMax,
      sigma_min: m.sigmaMin,
      sigma_data: m.sigmaData,
    });
    if (init.threads !== threads || getNumThreads() !== threads)
      throw new Error(`onnx bench: asked for ${threads} threads, got torch ${init.threads}, libtorch ${getNumThreads()}`);
    const sides = {
      libtorch: (): Promise<number> => {
        const t0 = performance.now();
        noGrad(() => sampleOneStep(den, z, { sigmaMax: m.sigmaMax })).dispose();
        return Promise.resolve(performance.now() - t0);
      },
      onnxruntime: async (): Promise<number> => {
        const t0 = performance.now();
        await gen.sample({ n: w.batch, levels: [m.sigmaMax], noise: [zValues] });
        return performance.now() - t0;
      },
      pytorch: async (): Promise<number> => (await py.request<{ ms: number[] }>({ op: 'run', n: 1 })).ms[0]!,
    };
    // The three compute the same images.
    const ours = noGrad(() => sampleOneStep(den, z, { sigmaMax: m.sigmaMax }));
    const sums = {
      libtorch: absSum(ours.toFloat32Array()),
      onnxruntime: absSum((await gen.sample({ n: w.batch, levels: [m.sigmaMax], noise: [zValues] })).data),
      pytorch: init.abs_sum,
    };
    ours.dispose();
    for (const [k, v] of Object.entries(sums))
      if (!(Math.abs(v - sums.libtorch) <= AGREEMENT * Math.max(sums.libtorch, 1e-30)))
        throw new Error(`onnx bench: ${w.preset}: the ${k} output differs from libtorch's (sums of |x|: ${JSON.stringify(sums)})`);
    log(
      `[onnx] ${w.preset} batch ${w.batch}, threads ${threads}, ${net.parameterCount()} parameters; torch ${hello.torch}; outputs agree (${JSON.stringify(sums)})`,
    );

    const names = Object.keys(sides) as Array<keyof typeof sides>;
    const warmup = o.warmup ?? 2;
    for (let i = 0; i < warmup; i++) for (const k of names) await sides[k]();
    const ms: Record<keyof typeof sides, number[]> = { libtorch: [], onnxruntime: [], pytorch: [] };
    const rounds = o.steps ?? w.rounds;
    for (let r = 0; r < rounds; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]!);
      for (const k of order) ms[k].push(await sides[k]());
    }
    const med = Object.fromEntries(names.map((k) => [k, median(ms[k])])) as Record<keyof typeof sides, number>;
    const ips = (k: keyof typeof sides): number => round((w.batch * 1000) / med[k], 2);
    let browser: Record<string, unknown>;
    try {
      browser = await browserMsPerImage(w.preset, net, config, w.browserImages, dir, log);
    } catch (e) {
      // Keep the native figures when the browser part fails; the record says why it is missing.
      browser = { browser_wasm: `not measured: ${(e as Error).message.split('\n')[0]}` };
    }
    return {
      bench: 'onnx',
      preset: w.preset,
      parameters: net.parameterCount(),
      batch: w.batch,
      threads,
      rounds,
      images_per_s: { libtorch: ips('libtorch'), onnxruntime_node: ips('onnxruntime'), pytorch_eager: ips('pytorch') },
      median_ms: { libtorch: round(med.libtorch, 1), onnxruntime_node: round(med.onnxruntime, 1), pytorch_eager: round(med.pytorch, 1) },
      onnxruntime_vs_pytorch: round(med.pytorch / med.onnxruntime, 2),
      onnxruntime_vs_libtorch: round(med.libtorch / med.onnxruntime, 2),
      ...browser,
    };
  } finally {
    await gen.release();
    await py.close();
    z.dispose();
    net.dispose();
  }
}

/** ms per image of the web page's Generate (wasm in headless Chromium), or why it was not measured. */
async function browserMsPerImage(
  preset: string,
  net: ReturnType<typeof buildNetwork>,
  config: NonNullable<ReturnType<typeof runPreset>>,
  images: number,
  dir: string,
  log: (l: string) => void,
): Promise<Record<string, unknown>> {
  // Loaded here so that the native figures are measured without playwright-core.
  const { CHROMIUM, buildSite, openSite, waitPageState } = await import('../test/helpers/chromium.js');
  if (!existsSync(CHROMIUM)) return { browser_wasm: `not measured: ${CHROMIUM} is missing` };
  const ckpt = join(dir, 'checkpoint.safetensors');
  writeCheckpoint(ckpt, {
    step: 0,
    config: runConfigToJson(config),
    groups: new Map([
      ['model', net.stateDict()],
      ['ema', net.namedParameters()],
    ]),
    generators: new Map(),
    state: {},
  });
  const site = join(dir, 'site');
  buildSite(ckpt, site);
  rmSync(ckpt);
  const browser = await openSite(site, join(dir, 'profile'));
  try {
    const page = await browser.context.newPage();
    await page.goto(`${browser.origin}/`);
    const wait = (): Promise<void> => waitPageState(page, ['ready', 'done'], 600_000);
    await wait();
    const backend = await page.textContent('#backend');
    const threads = await page.evaluate('globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1');
    await page.selectOption('#count', String(images));
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      // wasm runs on the page's main thread, so the click is acknowledged only when a batch ends.
      await page.click('#generate', { timeout: 600_000 });
      await page.waitForFunction(`document.body.dataset.state !== 'ready' && document.body.dataset.state !== 'busy'`, undefined, {
        timeout: 600_000,
      });
      await wait();
      const ms = Number(await page.getAttribute('#timing', 'data-ms-per-image'));
      if (i > 0) times.push(ms); // the first click warms up
    }
    log(`[onnx] ${preset} in Chromium (${backend}, ${String(threads)} wasm threads): ${times.map((t) => t.toFixed(1)).join(', ')} ms per image`);
    return { browser_backend: backend, browser_wasm_threads: threads, browser_images: images, browser_ms_per_image: round(median(times), 1) };
  } finally {
    await browser.close();
  }
}

const benchmark: Benchmark = {
  summary:
    'one-step images/s: libtorch vs onnxruntime-node vs PyTorch eager (mnist-quick, cifar10-cpu, cifar10 56M), and the web page in headless Chromium (wasm)',
  run: runOnnxBench,
};
export default benchmark;

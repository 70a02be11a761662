/**
 * The page `consistency web` builds: an exported consistency model (./model.onnx) sampled with
 * onnxruntime-web (WebGPU where the browser has it, else wasm; the backend is shown): a grid on a
 * click with one or two steps, a class picker for class-conditional models, interpolation between
 * two noises, and inpainting / colorization of the first sample with a brush, each timed.
 * body[data-state] is 'loading', 'ready', 'busy', 'done' or 'error' (the end-to-end test waits on it).
 */
import type { ConsistencyGenerator, Images } from '../dist/src/generate/web.js';

// onnxruntime-web starts its wasm threads as workers from the script its code is bundled in; a
// dynamic import keeps it in a chunk of its own, so a worker never runs this page's code.
const { gridCell, imageToRgba, loadWebGenerator } = await import('../dist/src/generate/web.js');

const PAD = 2;

function element<T extends HTMLElement>(id: string, kind: new () => T): T {
  const e = document.getElementById(id);
  if (!(e instanceof kind)) throw new Error(`page: #${id} is missing`);
  return e;
}

const ui = {
  model: element('model', HTMLElement),
  backend: element('backend', HTMLElement),
  classPicker: element('class-picker', HTMLLabelElement),
  classSelect: element('class', HTMLSelectElement),
  seed: element('seed', HTMLInputElement),
  count: element('count', HTMLSelectElement),
  generate: element('generate', HTMLButtonElement),
  timing: element('timing', HTMLElement),
  error: element('error', HTMLElement),
  grid: element('grid', HTMLCanvasElement),
  alpha: element('alpha', HTMLInputElement),
  interp: element('interp', HTMLCanvasElement),
  edit: element('edit', HTMLCanvasElement),
  edited: element('edited', HTMLCanvasElement),
  inpaint: element('inpaint', HTMLButtonElement),
  colorize: element('colorize', HTMLButtonElement),
  clear: element('clear', HTMLButtonElement),
};

function setState(state: 'loading' | 'ready' | 'busy' | 'done' | 'error'): void {
  document.body.dataset.state = state;
}

function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const c = canvas.getContext('2d');
  if (!c) throw new Error('page: no 2d canvas context');
  return c;
}

function steps(): number {
  const checked = document.querySelector<HTMLInputElement>('input[name="steps"]:checked');
  return checked ? Number(checked.value) : 1;
}

function seed(): number {
  const v = Number(ui.seed.value);
  return Number.isSafeInteger(v) && v >= 0 && v <= 0xffffffff ? v : 0;
}

/** The picked class; 'every class' (the default) leaves it out, so image i gets class i mod classes. */
function classLabel(gen: ConsistencyGenerator): { classLabel?: number } {
  return gen.info.classes > 0 && ui.classSelect.value !== '' ? { classLabel: Number(ui.classSelect.value) } : {};
}

/** Draws image `index` of `images` at (x, y) of `canvas`, one canvas pixel per image pixel. */
function putImage(canvas: HTMLCanvasElement, images: Images, index: number, x = 0, y = 0): void {
  const [, , H, W] = images.shape;
  context(canvas).putImageData(new ImageData(imageToRgba(images, index), W, H), x, y);
}

function drawGrid(images: Images): void {
  const [n, , side] = [images.shape[0], images.shape[1], images.shape[2]];
  const columns = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / columns);
  ui.grid.width = columns * (side + PAD) + PAD;
  ui.grid.height = rows * (side + PAD) + PAD;
  const c = context(ui.grid);
  c.fillStyle = '#fff';
  c.fillRect(0, 0, ui.grid.width, ui.grid.height);
  for (let i = 0; i < n; i++) {
    const { x, y } = gridCell(i, columns, side, PAD);
    putImage(ui.grid, images, i, x, y);
  }
}

async function timed<T>(images: number, run: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const out = await run();
  const ms = performance.now() - start;
  ui.timing.textContent = `${(ms / images).toFixed(1)} ms per image (${images} in ${ms.toFixed(0)} ms)`;
  ui.timing.dataset.msPerImage = String(ms / images);
  return out;
}

function showError(e: unknown): void {
  ui.error.hidden = false;
  ui.error.textContent = e instanceof Error ? e.message : String(e);
  setState('error');
}

async function main(): Promise<void> {
  const { generator: gen, backend } = await loadWebGenerator('./model.onnx');
  const info = gen.info;
  ui.backend.textContent = backend;
  ui.model.textContent = `${info.preset}: ${info.channels}x${info.resolution}x${info.resolution}${info.classes > 0 ? `, ${info.classes} classes` : ''}`;
  if (info.classes > 0) {
    ui.classPicker.hidden = false;
    ui.classSelect.add(new Option('every class', ''));
    for (let c = 0; c < info.classes; c++) ui.classSelect.add(new Option(String(c), String(c)));
  }
  const side = info.resolution;
  for (const canvas of [ui.interp, ui.edit, ui.edited]) {
    canvas.width = side;
    canvas.height = side;
  }
  let first: Images | null = null;
  let mask = new Uint8Array(side * side);

  const busy = async (work: () => Promise<void>): Promise<void> => {
    setState('busy');
    for (const b of [ui.generate, ui.inpaint, ui.colorize]) b.disabled = true;
    try {
      await work();
      setState('done');
    } catch (e) {
      showError(e);
    } finally {
      ui.generate.disabled = false;
      ui.inpaint.disabled = first === null;
      ui.colorize.disabled = first === null || info.channels !== 3;
      ui.clear.disabled = first === null;
    }
  };

  const drawEdit = (): void => {
    if (!first) return;
    putImage(ui.edit, first, 0);
    const c = context(ui.edit);
    c.fillStyle = 'rgba(255, 0, 0, 0.5)';
    for (let p = 0; p < mask.length; p++) if (mask[p]) c.fillRect(p % side, Math.floor(p / side), 1, 1);
  };

  ui.generate.addEventListener('click', () => {
    void busy(async () => {
      const n = Number(ui.count.value);
      const images = await timed(n, () => gen.sample({ n, steps: steps(), seed: seed(), ...classLabel(gen) }));
      drawGrid(images);
      first = { data: images.data.slice(0, gen.imageSize), shape: [1, info.channels, side, side] };
      mask = new Uint8Array(side * side);
      drawEdit();
    });
  });

  ui.alpha.addEventListener('change', () => {
    void busy(async () => {
      const [images] = await timed(1, () =>
        gen.interpolate({ alphas: [Number(ui.alpha.value)], n: 1, steps: steps(), seed: seed(), ...classLabel(gen) }),
      );
      if (images) putImage(ui.interp, images, 0);
    });
  });

  let painting = false;
  const paint = (e: PointerEvent): void => {
    if (!painting || !first) return;
    const r = ui.edit.getBoundingClientRect();
    const cx = ((e.clientX - r.left) / r.width) * side;
    const cy = ((e.clientY - r.top) / r.height) * side;
    const radius = Math.max(1, side / 10);
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= radius * radius) mask[y * side + x] = 1;
    drawEdit();
  };
  ui.edit.addEventListener('pointerdown', (e) => {
    painting = true;
    paint(e);
  });
  ui.edit.addEventListener('pointermove', paint);
  window.addEventListener('pointerup', () => {
    painting = false;
  });
  ui.clear.addEventListener('click', () => {
    mask = new Uint8Array(side * side);
    drawEdit();
  });

  ui.inpaint.addEventListener('click', () => {
    void busy(async () => {
      if (!first) return;
      const images = first;
      const known = mask.map((m) => (m ? 0 : 1));
      const out = await timed(1, () => gen.inpaint({ images: images.data, known, steps: steps(), seed: seed(), ...classLabel(gen) }));
      putImage(ui.edited, out, 0);
    });
  });

  ui.colorize.addEventListener('click', () => {
    void busy(async () => {
      if (!first) return;
      const plane = side * side;
      const rgb = first.data;
      const gray = new Float32Array(plane).map((_, p) => 0.2989 * rgb[p]! + 0.587 * rgb[plane + p]! + 0.114 * rgb[2 * plane + p]!);
      const out = await timed(1, () => gen.colorize({ gray, steps: steps(), seed: seed(), ...classLabel(gen) }));
      putImage(ui.edited, out, 0);
    });
  });

  ui.generate.disabled = false;
  setState('ready');
}

main().catch(showError);

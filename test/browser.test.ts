/**
 * End to end in headless Chromium (Debian's chromium driven by playwright-core): `consistency web`
 * builds the page for an mnist-quick model made here (random full-scale weights), the page served by
 * `consistency serve`'s server loads it with onnxruntime-web (wasm: the GPU is disabled), generates
 * on a click with one and two steps, and its canvas pixels equal, within 1/255, the Node runtime's
 * (consistency-ts/generate) for the same seed. Interpolation and inpainting with the brush run too.
 * Every request stays on the local server (no CDN). A screenshot is kept in test-artifacts/browser/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:http';
import type { Page } from 'playwright-core';
import { loadGenerator, type Images } from 'consistency-ts/generate';
import { repoRoot } from './helpers/python.js';
import { testRunConfig, writeRandomCheckpoint } from './helpers/onnx-models.js';
import { buildSite, openSite, waitPageState, type SiteBrowser } from './helpers/chromium.js';
import { CLI, consistency } from './helpers/cli.js';
import { gridCell, imageToRgba } from '../src/generate/pixels.js';

const artifacts = join(repoRoot, 'test-artifacts', 'browser');
let dir = '';
let site = '';
let browser: SiteBrowser | null = null;
const requests: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'browser-'));
  const ckpt = join(dir, 'mnist-quick.safetensors');
  const nets = writeRandomCheckpoint(ckpt, testRunConfig('mnist-quick'), 60);
  nets.model.dispose();
  nets.ema.dispose();
  site = join(dir, 'site');
  buildSite(ckpt, site, ['--threads', '1']);
  browser = await openSite(site, join(dir, 'profile'));
  browser.context.on('request', (req) => requests.push(req.url()));
});

after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// The page's code runs in the browser; these helpers hand it expressions (this test is compiled without DOM types).
async function canvasPixels(page: Page, id: string): Promise<{ width: number; height: number; data: number[] }> {
  const expression = `(() => {
    const c = document.getElementById(${JSON.stringify(id)});
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    return { width: c.width, height: c.height, data: Array.from(d.data) };
  })()`;
  return page.evaluate<{ width: number; height: number; data: number[] }>(expression);
}

/** Largest difference between the grid canvas and the Node runtime's images, per RGBA byte. */
function gridDifference(canvas: { width: number; data: number[] }, images: Images): number {
  const [n, , side] = images.shape;
  const columns = Math.ceil(Math.sqrt(n));
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const want = imageToRgba(images, i);
    const { x, y } = gridCell(i, columns, side, 2);
    for (let r = 0; r < side; r++)
      for (let c = 0; c < side; c++)
        for (let k = 0; k < 4; k++)
          worst = Math.max(worst, Math.abs(canvas.data[((y + r) * canvas.width + x + c) * 4 + k]! - want[(r * side + c) * 4 + k]!));
  }
  return worst;
}

test('the page generates with onnxruntime-web (wasm) and its pixels equal the Node runtime for the same seed', async () => {
  assert.ok(browser);
  const { context, origin } = browser;
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${origin}/`);
  await waitPageState(page, ['ready'], 120_000);
  // --disable-gpu leaves no WebGPU adapter, so the page must fall back to wasm and say so.
  assert.equal(await page.textContent('#backend'), 'wasm');
  assert.match((await page.textContent('#model')) ?? '', /mnist-quick: 1x28x28/);

  const node = await loadGenerator(join(site, 'model.onnx'), { sessionOptions: { intraOpNumThreads: 1 } });
  try {
    for (const [steps, seed] of [
      [1, 0],
      [2, 3],
    ] as const) {
      await page.check(`input[name="steps"][value="${steps}"]`);
      await page.fill('#seed', String(seed));
      await page.selectOption('#count', '16');
      await page.click('#generate', { timeout: 300_000 });
      await waitPageState(page, ['done'], 120_000);
      const canvas = await canvasPixels(page, 'grid');
      assert.equal(canvas.width, 4 * 30 + 2);
      const images = await node.sample({ n: 16, steps, seed });
      const diff = gridDifference(canvas, images);
      assert.ok(diff <= 1, `${steps} step(s), seed ${seed}: the canvas differs from the Node runtime by ${diff}/255`);
      // Not blank: the grid's gray levels spread out.
      const levels = new Set(canvas.data.filter((_, i) => i % 4 === 0));
      assert.ok(levels.size > 50, `only ${levels.size} gray levels on the canvas`);
      assert.match((await page.textContent('#timing')) ?? '', /ms per image/);
    }

    // Interpolation: the slider's sample at alpha 0.5 equals the Node runtime's.
    await page.fill('#seed', '5');
    await page.locator('#alpha').fill('0.5');
    await page.locator('#alpha').dispatchEvent('change');
    await waitPageState(page, ['done'], 120_000);
    const interp = await canvasPixels(page, 'interp');
    const [mid] = await node.interpolate({ alphas: [0.5], n: 1, steps: 2, seed: 5 });
    assert.ok(mid);
    const want = imageToRgba(mid, 0);
    assert.ok(
      interp.data.every((v, i) => Math.abs(v - want[i]!) <= 1),
      'interpolation canvas equals the Node runtime',
    );

    // Inpainting with the brush: a stroke across the middle of the first sample; pixels away from it are kept.
    await page.locator('#edit').scrollIntoViewIfNeeded();
    const box = await page.locator('#edit').boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2, { steps: 8 });
    await page.mouse.up();
    await page.click('#inpaint', { timeout: 300_000 });
    await waitPageState(page, ['done'], 120_000);
    const edited = await canvasPixels(page, 'edited');
    const grid = await canvasPixels(page, 'grid');
    // The first sample as drawn in the grid (at (2, 2)), and the inpainted image: the top rows are far from the stroke.
    let same = 0;
    let changed = 0;
    for (let r = 0; r < 28; r++)
      for (let c = 0; c < 28; c++) {
        const a = edited.data[(r * 28 + c) * 4]!;
        const b = grid.data[((r + 2) * grid.width + c + 2) * 4]!;
        if (r < 5) assert.ok(Math.abs(a - b) <= 1, `kept pixel (${r}, ${c}) changed: ${a} vs ${b}`);
        if (a === b) same++;
        else changed++;
      }
    assert.ok(same > 300 && changed > 20, `inpainting kept ${same} and changed ${changed} pixels`);

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'page.png'), fullPage: true });
  } finally {
    await node.release();
  }
  assert.deepEqual(errors, []);
  const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'));
  assert.deepEqual(foreign, [], 'every request goes to the local server');
});

test('consistency serve: serves the site with cross-origin isolation headers, nothing outside it, and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', site, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        const m = /^(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
        if (m) resolveUrl(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`serve exited early (${code})`)));
    });
    const index = await fetch(url);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(index.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.match(await index.text(), /<canvas id="grid"/);
    const model = await fetch(`${url}model.onnx`);
    assert.equal(model.status, 200);
    assert.ok((await model.arrayBuffer()).byteLength > 100_000);
    // Encoded slashes survive URL parsing and decode to a path outside the site.
    const { port } = new URL(url);
    const traversal = await new Promise<number | undefined>((done, reject) => {
      get({ host: '127.0.0.1', port, path: '/..%2F..%2F..%2Fpackage.json' }, (res) => {
        res.resume();
        done(res.statusCode);
      }).on('error', reject);
    });
    assert.equal(traversal, 403);
    assert.equal((await fetch(`${url}missing.js`)).status, 404);
  } finally {
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
  const r = consistency('serve', join(dir, 'nowhere'));
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^consistency serve: .*nowhere has no index\.html/);
});

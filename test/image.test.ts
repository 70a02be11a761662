/**
 * Tests of src/image: the PNG encoder (decoded back with pngjs and with Python's zlib), image
 * grids, the bitmap font and line plots.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import pngjs from 'pngjs';
import { crc32 } from '../src/image/crc32.js';
import { encodePng, chwToHwc, type PngChannels } from '../src/image/png.js';
import { makeGrid, gridPng, toByte } from '../src/image/grid.js';
import { renderPlot, plotPng, niceTicks, formatTick, type PlotImage } from '../src/image/plot.js';
import { drawText, textWidth } from '../src/image/font.js';

const PYTHON = '/usr/bin/python3';

function decode(png: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const img = pngjs.PNG.sync.read(Buffer.from(png), { checkCRC: true });
  return { width: img.width, height: img.height, rgba: new Uint8Array(img.data) };
}

/** Expands interleaved gray/RGB/RGBA pixels to RGBA, as pngjs returns them. */
function toRgba(px: Uint8Array, channels: PngChannels): Uint8Array {
  const n = px.length / channels;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const r = px[i * channels]!;
    const g = channels === 1 ? r : px[i * channels + 1]!;
    const b = channels === 1 ? r : px[i * channels + 2]!;
    out.set([r, g, b, channels === 4 ? px[i * channels + 3]! : 255], i * 4);
  }
  return out;
}

/** The rows of column x where a plot drew its test colour, [200, 0, 0]. */
function redRows(p: PlotImage, x: number): number[] {
  const rows: number[] = [];
  for (let y = 0; y < p.height; y++) {
    const o = (y * p.width + x) * 3;
    if (p.pixels[o] === 200 && p.pixels[o + 1] === 0) rows.push(y);
  }
  return rows;
}

/** The columns where a plot drew its test colour. */
function redColumns(p: PlotImage): number[] {
  return Array.from({ length: p.width }, (_, x) => x).filter((x) => redRows(p, x).length > 0);
}

/** A pseudo-random test image mixing noise, gradients and flat areas (so every filter is used). */
function testPixels(w: number, h: number, c: number, seed: number): Uint8Array {
  const out = new Uint8Array(w * h * c);
  let s = seed;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const region = (x * 3 + y) % 4;
        out[(y * w + x) * c + k] = region === 0 ? s >>> 24 : region === 1 ? (x * 17 + k * 40) & 255 : region === 2 ? (y * 9) & 255 : 200;
      }
  return out;
}

test('crc32 check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const a = new TextEncoder().encode('hello ');
  const b = new TextEncoder().encode('world');
  assert.equal(crc32(b, crc32(a)), crc32(new TextEncoder().encode('hello world')));
});

test('PNG encoder round-trips exactly through pngjs (gray, RGB, RGBA; odd sizes)', () => {
  for (const channels of [1, 3, 4] as const) {
    for (const [w, h] of [
      [1, 1],
      [7, 5],
      [33, 17],
      [64, 3],
    ] as const) {
      const px = testPixels(w, h, channels, w * 100 + h + channels);
      const png = encodePng(px, w, h, channels);
      const img = decode(png);
      assert.deepEqual([img.width, img.height], [w, h]);
      assert.ok(Buffer.from(img.rgba).equals(Buffer.from(toRgba(px, channels))), `${w}x${h}x${channels}`);
    }
  }
});

test('PNG encoder output parsed independently by Python (chunk CRCs, IHDR, zlib, row filters)', () => {
  const w = 9,
    h = 6;
  const px = testPixels(w, h, 3, 42);
  const png = encodePng(px, w, h, 3);
  const script = String.raw`
import sys, struct, zlib
data = sys.stdin.buffer.read()
assert data[:8] == b'\x89PNG\r\n\x1a\n'
pos, chunks = 8, []
while pos < len(data):
    n, = struct.unpack('>I', data[pos:pos+4]); t = data[pos+4:pos+8]; body = data[pos+8:pos+8+n]
    crc, = struct.unpack('>I', data[pos+8+n:pos+12+n])
    assert zlib.crc32(t + body) == crc, t
    chunks.append((t, body)); pos += 12 + n
assert [c[0] for c in chunks] == [b'IHDR', b'IDAT', b'IEND']
w, h, depth, ctype, comp, filt, inter = struct.unpack('>IIBBBBB', chunks[0][1])
raw = zlib.decompress(b''.join(b for t, b in chunks if t == b'IDAT'))
bpp, stride = 3, w * 3
prev, out = bytearray(stride), bytearray()
for y in range(h):
    f = raw[y*(stride+1)]; row = bytearray(raw[y*(stride+1)+1:(y+1)*(stride+1)])
    for i in range(stride):
        a = row[i-bpp] if i >= bpp else 0; b = prev[i]; c = prev[i-bpp] if i >= bpp else 0
        if f == 1: row[i] = (row[i] + a) & 255
        elif f == 2: row[i] = (row[i] + b) & 255
        elif f == 3: row[i] = (row[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p-a), abs(p-b), abs(p-c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    out += row; prev = row
print(w, h, depth, ctype, out.hex())
`;
  const res = execFileSync(PYTHON, ['-c', script], { input: png }).toString().trim().split(' ');
  assert.deepEqual(res.slice(0, 4), ['9', '6', '8', '2']);
  assert.equal(res[4], Buffer.from(px).toString('hex'));
});

test('PNG encoder rejects bad arguments', () => {
  assert.throws(() => encodePng(new Uint8Array(5), 2, 2, 1), /expected 4 bytes for 2x2x1, got 5/);
  assert.throws(() => encodePng(new Uint8Array(0), 0, 1, 1), /positive integers/);
  assert.throws(() => encodePng(new Uint8Array(4), 2, 1, 2 as PngChannels), /channels must be 1, 3 or 4/);
});

test('chwToHwc interleaves planes', () => {
  assert.deepEqual([...chwToHwc(Uint8Array.of(1, 2, 3, 4, 5, 6), 3, 1, 2)], [1, 3, 5, 2, 4, 6]);
});

test('grid: layout, padding and the [-1, 1] -> 0..255 mapping', () => {
  // 5 RGB images of 2x3, image n filled with value 10*n + channel
  const count = 5,
    C = 3,
    H = 2,
    W = 3;
  const imgs = new Uint8Array(count * C * H * W);
  for (let n = 0; n < count; n++) for (let c = 0; c < C; c++) imgs.fill(10 * n + c, (n * C + c) * H * W, (n * C + c + 1) * H * W);
  const g = makeGrid(imgs, { count, channels: C, height: H, width: W, columns: 3, padding: 1, padValue: 0 });
  assert.deepEqual([g.width, g.height, g.channels], [3 * 3 + 4, 2 * 2 + 3, 3]);
  const at = (x: number, y: number): number[] => [...g.pixels.subarray((y * g.width + x) * 3, (y * g.width + x) * 3 + 3)];
  assert.deepEqual(at(0, 0), [0, 0, 0]);
  assert.deepEqual(at(1, 1), [0, 1, 2]); // image 0 top-left
  assert.deepEqual(at(5, 1), [10, 11, 12]); // image 1
  assert.deepEqual(at(9, 2), [20, 21, 22]); // image 2, bottom-right pixel
  assert.deepEqual(at(1, 4), [30, 31, 32]); // image 3, second row
  assert.deepEqual(at(7, 5), [40, 41, 42]); // image 4
  assert.deepEqual(at(11, 4), [0, 0, 0]); // empty cell stays padding
  assert.deepEqual(at(4, 1), [0, 0, 0]); // padding between columns

  assert.deepEqual([toByte(-1), toByte(1), toByte(0), toByte(-3), toByte(7), toByte(NaN)], [0, 255, 128, 0, 255, 0]);
  const f = Float32Array.of(-1, 1, 0, 0.5);
  const png = gridPng(f, { count: 1, channels: 1, height: 2, width: 2, padding: 0 });
  const dec = decode(png);
  assert.deepEqual([dec.width, dec.height], [2, 2]);
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => dec.rgba[i * 4]),
    [0, 255, 128, 191],
  );
  assert.throws(() => makeGrid(new Uint8Array(3), { count: 1, channels: 2, height: 1, width: 1 }), /channels must be 1 or 3/);
});

test('nice ticks and tick labels', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(3, 97, 5), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(-0.013, 0.012, 5), [-0.015, -0.01, -0.005, 0, 0.005, 0.01, 0.015]);
  assert.deepEqual(['0', '250', '0.05', '1E-4', '2.5E6', '-3'], [0, 250, 0.05, 1e-4, 2.5e6, -3].map(formatTick));
});

test('bitmap font draws glyphs pixel-exactly', () => {
  const lit = new Set<string>();
  drawText('1', 0, 0, 1, (x, y) => lit.add(`${x},${y}`));
  assert.deepEqual([...lit].sort(), ['0,1', '1,0', '1,1', '1,2', '1,3', '0,4', '1,4', '2,4'].sort());
  assert.equal(textWidth('10', 2), 14);
});

test('line plot: a PNG of the requested size with axes, labels and the series colour', () => {
  const y = Array.from({ length: 200 }, (_, i) => Math.exp(-i / 40) + 0.01);
  const png = plotPng({ y, color: [200, 0, 0] }, { width: 320, height: 200, title: 'loss' });
  const img = decode(png);
  assert.deepEqual([img.width, img.height], [320, 200]);
  let red = 0,
    black = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    const [r, g, b] = [img.rgba[i]!, img.rgba[i + 1]!, img.rgba[i + 2]!];
    if (r === 200 && g === 0 && b === 0) red++;
    if (r === 0 && g === 0 && b === 0) black++;
  }
  assert.ok(red > 300, `${red} red pixels`);
  assert.ok(black > 500, `${black} black pixels (axes, ticks, labels)`);

  // The curve falls: its first red pixel column is higher up than its last.
  const p = renderPlot({ y, color: [200, 0, 0] }, { width: 320, height: 200 });
  const cols = redColumns(p);
  assert.ok(Math.min(...redRows(p, cols[0]!)) < Math.min(...redRows(p, cols[cols.length - 1]!)));
  // Deterministic.
  assert.ok(Buffer.from(plotPng({ y }, { width: 320, height: 200 })).equals(Buffer.from(plotPng({ y }, { width: 320, height: 200 }))));
});

test('line plot: log-y, gaps for non-finite and non-positive values, several series, empty input', () => {
  const y = [10, 1, NaN, 0.1, -1, 0.01, Infinity, 0.001];
  const img = decode(
    plotPng(
      [
        { y, label: 'a' },
        { x: [0, 1, 2, 3, 4, 5, 6, 7], y: y.map((v) => v * 3), label: 'b' },
      ],
      { logY: true },
    ),
  );
  assert.deepEqual([img.width, img.height], [640, 400]);
  const empty = decode(plotPng({ y: [] }, { width: 200, height: 120 }));
  assert.deepEqual([empty.width, empty.height], [200, 120]);
  const flat = decode(plotPng({ y: [5, 5, 5] }, { width: 200, height: 120 }));
  assert.equal(flat.width, 200);
  assert.throws(() => renderPlot({ y: [1, 2], x: [1] }), /x has 1 values but y has 2/);
});

test('line plot: xRange widens the x axis beyond the data, and is checked', () => {
  // The red pixel columns of a line over x in [0, 1].
  const lineColumns = (opts: { xRange?: [number, number] }): number[] =>
    redColumns(renderPlot({ x: [0, 1], y: [0, 1], color: [200, 0, 0] }, { width: 320, height: 200, ...opts }));
  const full = lineColumns({});
  const narrow = lineColumns({ xRange: [0, 10] });
  // Over [0, 1] of a [0, 10] axis the line spans about a tenth of the width it spans alone.
  const span = (c: number[]): number => c[c.length - 1]! - c[0]!;
  assert.ok(span(full) > 200, `alone the line spans the plot (${span(full)} px)`);
  assert.ok(Math.abs(span(narrow) - span(full) / 10) <= 3, `${span(narrow)} px against ${span(full)} px`);
  assert.equal(narrow[0], full[0], 'both start at the left edge of the plot');
  // Points outside the range still widen the axis: a range inside the data changes nothing.
  assert.deepEqual(lineColumns({ xRange: [0.2, 0.4] }), full);
  assert.throws(() => renderPlot({ y: [1, 2] }, { xRange: [3, 3] }), /xRange must be two finite numbers, lo < hi; got \[3, 3\]/);
  assert.throws(() => renderPlot({ y: [1, 2] }, { xRange: [0, NaN] }), /xRange must be/);
});

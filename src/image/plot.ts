/**
 * Line plots (e.g. a loss curve) rendered straight to RGB pixels and PNG, with no native
 * dependencies: axes, "nice" ticks with labels in a built-in bitmap font, light grid lines, one
 * polyline per series, optional log-scale y, an optional title and legend. Non-finite points (and
 * non-positive ones on a log axis) break the line instead of failing.
 */
import { writeFileSync } from 'node:fs';
import { encodePng } from './png.js';
import { drawText, GLYPH_HEIGHT, textWidth } from './font.js';

export type Rgb = [number, number, number];

export interface PlotSeries {
  /** y values. */
  y: ArrayLike<number>;
  /** x values (same length as y); default 0, 1, 2, ... */
  x?: ArrayLike<number>;
  color?: Rgb;
  /** Shown in a legend when any series has one. */
  label?: string;
}

export interface PlotOptions {
  /** Image size in pixels; default 640x400. */
  width?: number;
  height?: number;
  /** Logarithmic y axis (base 10). */
  logY?: boolean;
  /** An x range the axis covers even where no point lies (points outside it widen the axis), e.g. room for the legend. */
  xRange?: readonly [number, number];
  title?: string;
  /** Text scale of the bitmap font (pixels per font pixel); default 2. */
  fontScale?: number;
}

/** A rendered plot: interleaved RGB bytes. */
export interface PlotImage {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

/** Default series colours (the matplotlib 'tab10' palette). */
export const PALETTE: Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

/** Ticks at 1, 2 or 5 times a power of ten covering [lo, hi], about `target` of them. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/** A short tick label: plain digits ('0', '250', '0.05'), or '1E-4' / '2.5E6' style for very small or large values. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = v.toExponential().split('e') as [string, string];
    const mant = Number(Number(m).toPrecision(3)).toString();
    return `${mant}E${e.replace('+', '')}`;
  }
  return Number(v.toPrecision(6)).toString();
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  /** Tick values as shown (for log axes the powers of ten, not their logs). */
  labels: string[];
}

function linearAxis(lo: number, hi: number): Axis {
  if (!(hi > lo)) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.5;
    lo -= d;
    hi += d;
  }
  const ticks = niceTicks(lo, hi, 5);
  return { lo: ticks[0]!, hi: ticks[ticks.length - 1]!, ticks, labels: ticks.map(formatTick) };
}

/** A log10 axis over [lo, hi] (given in log10 units), with ticks at powers of ten (and 2x, 5x when narrow). */
function logAxis(lo: number, hi: number): Axis {
  const a = Math.floor(lo + 1e-9);
  let b = Math.ceil(hi - 1e-9);
  if (b <= a) b = a + 1;
  const ticks: number[] = [];
  for (let k = a; k <= b; k++) {
    ticks.push(k);
    if (b - a <= 2 && k < b) ticks.push(k + Math.log10(2), k + Math.log10(5));
  }
  return { lo: a, hi: b, ticks, labels: ticks.map((t) => formatTick(Number((10 ** t).toPrecision(6)))) };
}

/** Renders series to RGB pixels. */
export function renderPlot(series: PlotSeries | PlotSeries[], opts: PlotOptions = {}): PlotImage {
  const list = Array.isArray(series) ? series : [series];
  const W = Math.max(64, Math.round(opts.width ?? 640));
  const H = Math.max(64, Math.round(opts.height ?? 400));
  const s = Math.max(1, Math.round(opts.fontScale ?? 2));
  const logY = opts.logY ?? false;
  const pixels = new Uint8Array(W * H * 3).fill(255);
  const set = (x: number, y: number, c: Rgb): void => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const o = (y * W + x) * 3;
    pixels[o] = c[0];
    pixels[o + 1] = c[1];
    pixels[o + 2] = c[2];
  };

  // Data ranges over the usable points.
  let xmin = Infinity,
    xmax = -Infinity,
    ymin = Infinity,
    ymax = -Infinity;
  const pts = list.map((sr) => {
    const n = sr.y.length;
    if (sr.x && sr.x.length !== n) throw new RangeError(`renderPlot: x has ${sr.x.length} values but y has ${n}`);
    const p: Array<[number, number] | null> = [];
    for (let i = 0; i < n; i++) {
      const x = sr.x ? sr.x[i]! : i;
      let y = sr.y[i]!;
      if (logY) y = y > 0 ? Math.log10(y) : NaN;
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        p.push(null);
        continue;
      }
      p.push([x, y]);
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      ymin = Math.min(ymin, y);
      ymax = Math.max(ymax, y);
    }
    return p;
  });
  if (opts.xRange) {
    const [lo, hi] = opts.xRange;
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi))
      throw new RangeError(`renderPlot: xRange must be two finite numbers, lo < hi; got [${lo}, ${hi}]`);
    xmin = Math.min(xmin, lo);
    xmax = Math.max(xmax, hi);
  }
  if (xmin > xmax) [xmin, xmax] = [0, 1];
  if (ymin > ymax) [ymin, ymax] = [0, 1];
  const xa = linearAxis(xmin, xmax);
  const ya = logY ? logAxis(ymin, ymax) : linearAxis(ymin, ymax);

  // Layout.
  const th = GLYPH_HEIGHT * s;
  const left = Math.max(...ya.labels.map((l) => textWidth(l, s))) + 12;
  const right = Math.max(16, Math.ceil(textWidth(xa.labels[xa.labels.length - 1]!, s) / 2) + 4);
  const top = opts.title ? th + 16 : 12;
  const bottom = th + 14;
  const pw = W - left - right;
  const ph = H - top - bottom;
  if (pw < 8 || ph < 8) throw new RangeError(`renderPlot: ${W}x${H} is too small for the axes and labels`);
  const px = (x: number): number => left + Math.round(((x - xa.lo) / (xa.hi - xa.lo)) * (pw - 1));
  const py = (y: number): number => top + ph - 1 - Math.round(((y - ya.lo) / (ya.hi - ya.lo)) * (ph - 1));

  const black: Rgb = [0, 0, 0];
  const grid: Rgb = [225, 225, 225];
  // Grid lines and tick labels.
  ya.ticks.forEach((t, i) => {
    const y = py(t);
    for (let x = left; x < left + pw; x++) set(x, y, grid);
    for (let x = left - 4; x < left; x++) set(x, y, black);
    const label = ya.labels[i]!;
    drawText(label, left - 6 - textWidth(label, s), y - Math.floor(th / 2), s, (a, b) => set(a, b, black));
  });
  xa.ticks.forEach((t, i) => {
    const x = px(t);
    for (let y = top; y < top + ph; y++) set(x, y, grid);
    for (let y = top + ph; y < top + ph + 4; y++) set(x, y, black);
    const label = xa.labels[i]!;
    drawText(label, x - Math.floor(textWidth(label, s) / 2), top + ph + 7, s, (a, b) => set(a, b, black));
  });
  // Axes.
  for (let x = left; x < left + pw; x++) set(x, top + ph - 1, black);
  for (let y = top; y < top + ph; y++) set(left, y, black);
  if (opts.title) drawText(opts.title, Math.floor((W - textWidth(opts.title, s)) / 2), 6, s, (a, b) => set(a, b, black));

  // Polylines, 2 pixels thick, clipped to the plot area.
  const plotSet = (x: number, y: number, c: Rgb): void => {
    for (let dy = 0; dy < 2; dy++)
      for (let dx = 0; dx < 2; dx++) {
        const X = x + dx,
          Y = y + dy - 1;
        if (X >= left && X < left + pw && Y >= top && Y < top + ph) set(X, Y, c);
      }
  };
  pts.forEach((p, k) => {
    const c = list[k]!.color ?? PALETTE[k % PALETTE.length]!;
    let prev: [number, number] | null = null;
    for (const q of p) {
      if (!q) {
        prev = null;
        continue;
      }
      const cur: [number, number] = [px(q[0]), py(q[1])];
      if (prev) line(prev[0], prev[1], cur[0], cur[1], (x, y) => plotSet(x, y, c));
      else plotSet(cur[0], cur[1], c);
      prev = cur;
    }
  });

  // Legend (top right) when labels are given.
  const labelled = list.map((sr, k) => ({ label: sr.label, color: sr.color ?? PALETTE[k % PALETTE.length]! })).filter((e) => e.label);
  if (labelled.length > 0) {
    const lw = Math.max(...labelled.map((e) => textWidth(e.label!, s))) + 3 * s + 6;
    labelled.forEach((e, i) => {
      const x0 = left + pw - lw - 6;
      const y0 = top + 6 + i * (th + 4);
      for (let y = y0; y < y0 + th; y++) for (let x = x0; x < x0 + 3 * s; x++) set(x, y, e.color);
      drawText(e.label!, x0 + 3 * s + 6, y0, s, (a, b) => set(a, b, black));
    });
  }
  return { pixels, width: W, height: H, channels: 3 };
}

/** Bresenham's line algorithm between integer points, calling `plot` for each pixel. */
export function line(x0: number, y0: number, x1: number, y1: number, plot: (x: number, y: number) => void): void {
  const dx = Math.abs(x1 - x0),
    sx = x0 < x1 ? 1 : -1;
  const dy = -Math.abs(y1 - y0),
    sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    plot(x0, y0);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

/** Renders series to PNG bytes. */
export function plotPng(series: PlotSeries | PlotSeries[], opts: PlotOptions = {}): Uint8Array {
  const img = renderPlot(series, opts);
  return encodePng(img.pixels, img.width, img.height, 3);
}

/** Renders series to a PNG file. */
export function writePlotPng(path: string, series: PlotSeries | PlotSeries[], opts: PlotOptions = {}): void {
  writeFileSync(path, plotPng(series, opts));
}

/**
 * Center cropping and resizing of planar (CHW) uint8 images, separably (rows, then columns) with
 * float intermediates. 'area' averages the source pixels each output pixel covers, weighting
 * partly covered ones by their covered fraction (OpenCV's INTER_AREA for downscaling);
 * 'bilinear' samples at pixel centres (align_corners = false) with two taps per axis and no
 * antialiasing.
 */

export type ResizeFilter = 'area' | 'bilinear';

/** For each output index: source indices and weights (summing to 1). */
interface Taps {
  index: Int32Array;
  weight: Float64Array;
  start: Int32Array; // offsets into index/weight; length out+1
}

function buildTaps(inSize: number, outSize: number, filter: ResizeFilter): Taps {
  const idx: number[] = [];
  const w: number[] = [];
  const start = new Int32Array(outSize + 1);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    start[o] = idx.length;
    if (filter === 'bilinear') {
      let s = (o + 0.5) * scale - 0.5;
      if (s < 0) s = 0;
      if (s > inSize - 1) s = inSize - 1;
      const i0 = Math.floor(s);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const f = s - i0;
      idx.push(i0);
      w.push(1 - f);
      if (f > 0 && i1 !== i0) {
        idx.push(i1);
        w.push(f);
      }
    } else {
      const a = o * scale;
      const b = (o + 1) * scale;
      let total = 0;
      const first = idx.length;
      for (let i = Math.floor(a); i < Math.min(Math.ceil(b), inSize); i++) {
        const cover = Math.min(b, i + 1) - Math.max(a, i);
        if (cover > 1e-12) {
          idx.push(i);
          w.push(cover);
          total += cover;
        }
      }
      for (let k = first; k < w.length; k++) w[k]! /= total;
    }
  }
  start[outSize] = idx.length;
  return { index: Int32Array.from(idx), weight: Float64Array.from(w), start };
}

/**
 * Resizes a region of a CHW uint8 image. The region is (x0, y0, cw, ch) in source pixels; the
 * result is CHW uint8 of size outH x outW.
 */
export function resizeRegion(
  src: Uint8Array,
  channels: number,
  height: number,
  width: number,
  region: { x0: number; y0: number; cw: number; ch: number },
  outH: number,
  outW: number,
  filter: ResizeFilter,
): Uint8Array {
  const { x0, y0, cw, ch } = region;
  const tx = buildTaps(cw, outW, filter);
  const ty = buildTaps(ch, outH, filter);
  const out = new Uint8Array(channels * outH * outW);
  const tmp = new Float64Array(ch * outW);
  for (let c = 0; c < channels; c++) {
    const plane = c * height * width;
    for (let y = 0; y < ch; y++) {
      const row = plane + (y0 + y) * width + x0;
      for (let o = 0; o < outW; o++) {
        let acc = 0;
        for (let k = tx.start[o]!; k < tx.start[o + 1]!; k++) acc += src[row + tx.index[k]!]! * tx.weight[k]!;
        tmp[y * outW + o] = acc;
      }
    }
    const oplane = c * outH * outW;
    for (let o = 0; o < outH; o++) {
      for (let x = 0; x < outW; x++) {
        let acc = 0;
        for (let k = ty.start[o]!; k < ty.start[o + 1]!; k++) acc += tmp[ty.index[k]! * outW + x]! * ty.weight[k]!;
        const v = Math.round(acc);
        out[oplane + o * outW + x] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return out;
}

/** The largest centered region of the source with the aspect ratio outW:outH. */
export function centerCropRegion(height: number, width: number, outH: number, outW: number): { x0: number; y0: number; cw: number; ch: number } {
  // Compare width/height with outW/outH without division.
  if (width * outH > height * outW) {
    const cw = Math.max(1, Math.round((height * outW) / outH));
    return { x0: Math.floor((width - cw) / 2), y0: 0, cw, ch: height };
  }
  const ch = Math.max(1, Math.round((width * outH) / outW));
  return { x0: 0, y0: Math.floor((height - ch) / 2), cw: width, ch };
}

/** Center-crops a CHW uint8 image to the aspect ratio of outH x outW and resizes it. */
export function centerCropResize(
  src: Uint8Array,
  channels: number,
  height: number,
  width: number,
  outH: number,
  outW: number,
  filter: ResizeFilter = 'area',
): Uint8Array {
  return resizeRegion(src, channels, height, width, centerCropRegion(height, width, outH, outW), outH, outW, filter);
}

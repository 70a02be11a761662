/**
 * A tiny built-in 3x5 bitmap font (digits, upper-case letters, a few symbols) for tick labels and
 * titles, so plots need no font files or native libraries. Lower-case letters are drawn as
 * upper-case; unknown characters as a blank.
 */

/** Glyph rows, top to bottom; '1' marks a lit pixel. */
const GLYPHS: Record<string, string> = {
  '0': '111 101 101 101 111',
  '1': '010 110 010 010 111',
  '2': '111 001 111 100 111',
  '3': '111 001 111 001 111',
  '4': '101 101 111 001 001',
  '5': '111 100 111 001 111',
  '6': '111 100 111 101 111',
  '7': '111 001 001 010 010',
  '8': '111 101 111 101 111',
  '9': '111 101 111 001 111',
  A: '010 101 111 101 101',
  B: '110 101 110 101 110',
  C: '011 100 100 100 011',
  D: '110 101 101 101 110',
  E: '111 100 110 100 111',
  F: '111 100 110 100 100',
  G: '011 100 101 101 011',
  H: '101 101 111 101 101',
  I: '111 010 010 010 111',
  J: '001 001 001 101 010',
  K: '101 101 110 101 101',
  L: '100 100 100 100 111',
  M: '101 111 111 101 101',
  N: '110 101 101 101 101',
  O: '010 101 101 101 010',
  P: '110 101 110 100 100',
  Q: '010 101 101 110 011',
  R: '110 101 110 101 101',
  S: '011 100 010 001 110',
  T: '111 010 010 010 010',
  U: '101 101 101 101 111',
  V: '101 101 101 101 010',
  W: '101 101 111 111 101',
  X: '101 101 010 101 101',
  Y: '101 101 010 010 010',
  Z: '111 001 010 100 111',
  ' ': '000 000 000 000 000',
  '.': '000 000 000 000 010',
  ',': '000 000 000 010 100',
  '-': '000 000 111 000 000',
  '+': '000 010 111 010 000',
  ':': '000 010 000 010 000',
  '/': '001 001 010 100 100',
  '=': '000 111 000 111 000',
  '(': '010 100 100 100 010',
  ')': '010 001 001 001 010',
  _: '000 000 000 000 111',
  '%': '101 001 010 100 101',
};

export const GLYPH_WIDTH = 3;
export const GLYPH_HEIGHT = 5;

/** The lit pixels of a character's glyph as 5 rows of 3 booleans. */
export function glyph(ch: string): boolean[][] {
  const g = GLYPHS[ch] ?? GLYPHS[ch.toUpperCase()] ?? GLYPHS[' ']!;
  return g.split(' ').map((row) => Array.from(row, (b) => b === '1'));
}

/** Width in pixels of `text` at `scale` (1 pixel of spacing between glyphs). */
export function textWidth(text: string, scale: number): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

/**
 * Draws `text` with its top-left corner at (x, y) by calling `set(px, py)` for each lit pixel.
 */
export function drawText(text: string, x: number, y: number, scale: number, set: (px: number, py: number) => void): void {
  let cx = x;
  for (const ch of text) {
    const g = glyph(ch);
    for (let r = 0; r < GLYPH_HEIGHT; r++) {
      for (let c = 0; c < GLYPH_WIDTH; c++) {
        if (!g[r]![c]) continue;
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) set(cx + c * scale + dx, y + r * scale + dy);
      }
    }
    cx += (GLYPH_WIDTH + 1) * scale;
  }
}

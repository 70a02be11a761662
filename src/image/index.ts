/** Image output helpers: PNG encoding, image grids, line plots, resizing. */
export { encodePng, writePng, chwToHwc } from './png.js';
export type { PngChannels } from './png.js';
export { makeGrid, gridPng, writeGridPng, floatImagesToUint8, toByte } from './grid.js';
export type { GridOptions, GridImage } from './grid.js';
export { renderPlot, plotPng, writePlotPng, niceTicks, formatTick, line, PALETTE } from './plot.js';
export type { PlotSeries, PlotOptions, PlotImage, Rgb } from './plot.js';
export { centerCropResize, centerCropRegion, resizeRegion } from './resize.js';
export type { ResizeFilter } from './resize.js';
export { crc32 } from './crc32.js';
export { drawText, textWidth, glyph } from './font.js';

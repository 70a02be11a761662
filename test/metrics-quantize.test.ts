/**
 * `eval --ckpt` hands the FID network 8-bit images, quantized as the official consistency-model
 * pipelines store their samples: the reference is Python's torch running the PyTorch code's own
 * expression ((x + 1) * 127.5).clamp(0, 255).to(torch.uint8) on the same float32 values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generatedToUint8 } from '../src/metrics/evaluation/images.js';
import { torchPython } from './helpers/python.js';
import { xorshift32 } from './helpers/xorshift.js';

test('generatedToUint8 equals torch: ((x + 1) * 127.5).clamp(0, 255).to(uint8), truncation included', () => {
  const next = xorshift32(7);
  // Edges (the ends, just inside them, values that land on and next to integer levels, out of range)
  // and random values in [-1.2, 1.2].
  const edges = [-1, 1, 0, -1.5, 1.5, -0.99999994, 0.99999994, 1 / 127.5 - 1, 2 / 127.5 - 1 - 1e-7, 0.5, -0.5, 1e-8, -1e-8, Infinity, -Infinity];
  const values = Float32Array.from([...edges, ...Array.from({ length: 2000 }, () => 2.4 * next() - 1.2)]);
  const script = `
import sys, torch
x = torch.frombuffer(bytearray(sys.stdin.buffer.read()), dtype=torch.float32)
sys.stdout.write(((x + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy().tobytes().hex())
`;
  const want = Buffer.from(execFileSync(torchPython(), ['-c', script], { input: Buffer.from(values.buffer) }).toString(), 'hex');
  const got = generatedToUint8(values);
  assert.equal(got.length, values.length);
  assert.deepEqual(Buffer.from(got), want);
  // Truncation, not rounding: 0 maps to 127 (127.5 rounds to 128); the ends map to 0 and 255.
  assert.deepEqual(Array.from(generatedToUint8(Float32Array.from([0, -1, 1]))), [127, 0, 255]);
});

test('generatedToUint8 refuses a NaN, naming the value', () => {
  assert.throws(() => generatedToUint8(Float32Array.from([0, 0.5, NaN])), /value 2 of the generated images is NaN/);
});

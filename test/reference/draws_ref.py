#!/usr/bin/env python3
"""Reference for test/train-draws.test.ts: the per-global-sample noise and level uniforms of
src/train/draws.ts, written from its documentation (splitmix64 over the words, xoshiro128**),
with the noise drawn by Python's torch from a CPU generator seeded the same way.

Input (stdin): {"seed": s, "cases": [[k, i], ...], "shape": [C, H, W], "out": "file.safetensors"}.
Output: the noise rows as tensor "z" [n, C, H, W] in `out`, and on stdout one JSON object
{"noiseSeeds": [...], "levelUniforms": [...]}.
"""
import json
import sys

import torch
from safetensors.torch import save_file

MASK64 = (1 << 64) - 1
NOISE_STREAM, LEVEL_STREAM = 11, 13


def splitmix64(state):
    s = (state + 0x9E3779B97F4A7C15) & MASK64
    z = s
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return s, z ^ (z >> 31)


def derive_state(*words):
    s = 0
    for w in words:
        s, out = splitmix64(s ^ w)
        s ^= out
    s1, a = splitmix64(s)
    _, b = splitmix64(s1)
    st = [a & 0xFFFFFFFF, a >> 32, b & 0xFFFFFFFF, b >> 32]
    if all(x == 0 for x in st):
        st[0] = 1
    return st


def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF


def xoshiro_first_uniform(state):
    """xoshiro128**'s first output, / 2^32."""
    result = (rotl((state[1] * 5) & 0xFFFFFFFF, 7) * 9) & 0xFFFFFFFF
    return result / 2**32


def main():
    req = json.load(sys.stdin)
    seed, shape = req["seed"], req["shape"]
    rows, seeds, uniforms = [], [], []
    for k, i in req["cases"]:
        ns = derive_state(seed, NOISE_STREAM, k, i)[0]
        seeds.append(ns)
        g = torch.Generator().manual_seed(ns)
        rows.append(torch.randn((1, *shape), generator=g))
        uniforms.append(xoshiro_first_uniform(derive_state(seed, LEVEL_STREAM, k, i)))
    save_file({"z": torch.cat(rows, 0).contiguous()}, req["out"])
    print(json.dumps({"noiseSeeds": seeds, "levelUniforms": uniforms}))


if __name__ == "__main__":
    main()

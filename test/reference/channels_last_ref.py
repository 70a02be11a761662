#!/usr/bin/env python3
"""Reference for test/channels-last.test.ts: which of the U-Net's ops keep a channels-last
(NHWC) input channels-last in this torch (conv2d with a channels-last weight, group_norm, silu,
add, nearest upsampling, 2x2 average pooling). Inputs: x = sin(0.13 i) (2x8x6x6), conv weight
cos(0.07 i) / 8 (8x8x3x3), i = 0, 1, ... in float32. Prints one JSON object of booleans and the
conv output."""
import json

import torch
import torch.nn.functional as F

cl = torch.channels_last


def wave(n, f, a, scale):
    return f(torch.arange(n, dtype=torch.float32).mul(a)).div(scale)


x = wave(2 * 8 * 6 * 6, torch.sin, 0.13, 1.0).reshape(2, 8, 6, 6).contiguous(memory_format=cl)
w = wave(8 * 8 * 3 * 3, torch.cos, 0.07, 8.0).reshape(8, 8, 3, 3).contiguous(memory_format=cl)
y = F.conv2d(x, w, padding=1)
out = {
    "conv2d": y.is_contiguous(memory_format=cl),
    "groupNorm": F.group_norm(y, 4).is_contiguous(memory_format=cl),
    "silu": F.silu(y).is_contiguous(memory_format=cl),
    "add": y.add(x).is_contiguous(memory_format=cl),
    "upsample": F.interpolate(y, scale_factor=2, mode="nearest").is_contiguous(memory_format=cl),
    "avgPool": F.avg_pool2d(y, 2).is_contiguous(memory_format=cl),
    "y": y.flatten().tolist(),
}
print(json.dumps(out))

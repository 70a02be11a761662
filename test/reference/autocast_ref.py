#!/usr/bin/env python3
"""Reference for test/autocast.test.ts: Python torch's own torch.autocast("cpu", bfloat16) on a
conv2d -> relu -> linear chain with float32 weights, the loss taken in float32 outside autocast
(as the training step does), and the float32 weight gradients. Inputs are made from formulas the
test repeats: x = sin(0.37 i), conv weight = cos(0.11 i) / 6, linear weight = sin(0.05 i + 1) / 8
over i = 0, 1, ... in float32. Prints one JSON object.
"""
import json

import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def wave(n, f, a, b, scale):
    return f(torch.arange(n, dtype=torch.float32).mul(a).add(b)).div(scale)


def run(autocast):
    x = wave(2 * 3 * 8 * 8, torch.sin, 0.37, 0.0, 1.0).reshape(2, 3, 8, 8)
    w = wave(4 * 3 * 3 * 3, torch.cos, 0.11, 0.0, 6.0).reshape(4, 3, 3, 3).requires_grad_(True)
    v = wave(5 * 4 * 6 * 6, torch.sin, 0.05, 1.0, 8.0).reshape(5, 4 * 6 * 6).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        h = F.relu(F.conv2d(x, w))
        y = F.linear(h.reshape(2, -1), v)
    loss = y.float().pow(2).mean()
    loss.backward()
    return {
        "hDtype": str(h.dtype).replace("torch.", ""),
        "yDtype": str(y.dtype).replace("torch.", ""),
        "y": y.float().flatten().tolist(),
        "loss": loss.item(),
        "gradW": w.grad.flatten().tolist(),
        "gradV": v.grad.flatten().tolist(),
        "gradDtype": str(w.grad.dtype).replace("torch.", ""),
    }


print(json.dumps({"bf16": run(True), "fp32": run(False)}))

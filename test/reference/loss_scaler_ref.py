#!/usr/bin/env python3
"""Reference for test/loss-scaler.test.ts: PyTorch's GradScaler (torch.amp.GradScaler("cpu"),
torch >= 2.3) with Adam on a small linear regression, where some steps get an inf or NaN
injected into one gradient after backward. Per step it records the scale after update(),
whether the optimizer stepped (weights changed) and the weights.

Problem: pred = X W^T + b, loss = mean((pred - Y)^2); X = sin(0.3 i) (8x4), Y = cos(0.7 i) (8x3),
W = sin(0.9 i + 0.5) / 2 (3x4), b = 0 (3), i = 0, 1, ... in float32.
Input (argv): init scale, growth interval, steps, then a JSON object {step: "inf"|"nan"}.
Torch 1.x has no CPU GradScaler (its kernels are CUDA-only): there the script applies
GradScaler's documented rules itself and says so ("source": "documented rules").
"""
import json
import sys

import torch

torch.set_num_threads(1)
init_scale, interval, steps = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
inject = {int(k): v for k, v in json.loads(sys.argv[4]).items()}


def wave(n, f, a, b, scale):
    return f(torch.arange(n, dtype=torch.float32).mul(a).add(b)).div(scale)


X = wave(32, torch.sin, 0.3, 0.0, 1.0).reshape(8, 4)
Y = wave(24, torch.cos, 0.7, 0.0, 1.0).reshape(8, 3)
W = wave(12, torch.sin, 0.9, 0.5, 2.0).reshape(3, 4).requires_grad_(True)
b = torch.zeros(3, requires_grad=True)
opt = torch.optim.Adam([W, b], lr=0.05)


class DocumentedScaler:
    """GradScaler's rules as its documentation states them, for torch without a CPU GradScaler."""

    def __init__(self, init_scale, growth_interval):
        self.s, self.interval, self.tracker = init_scale, growth_interval, 0

    def scale(self, loss):
        return loss * self.s

    def step(self, opt):
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        self.found = any(not torch.isfinite(g).all() for g in grads)
        for g in grads:
            g.mul_(1.0 / self.s)
        if not self.found:
            opt.step()

    def update(self):
        if self.found:
            self.s, self.tracker = self.s * 0.5, 0
        else:
            self.tracker += 1
            if self.tracker == self.interval:
                self.s, self.tracker = self.s * 2.0, 0

    def get_scale(self):
        return self.s


if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
    scaler, source = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=interval), "torch.amp.GradScaler"
else:
    scaler, source = DocumentedScaler(init_scale, interval), "documented rules"

records = []
for step in range(steps):
    opt.zero_grad(set_to_none=True)
    loss = ((X @ W.T + b - Y) ** 2).mean()
    scaler.scale(loss).backward()
    if step in inject:
        mask = torch.zeros_like(W.grad)
        mask[0, 0] = float(inject[step])
        W.grad.add_(mask)
    before = W.detach().clone()
    scaler.step(opt)
    scaler.update()
    records.append({"scale": float(scaler.get_scale()), "stepped": not torch.equal(before, W.detach()), "loss": loss.item(), "W": W.detach().flatten().tolist()})
print(json.dumps({"source": source, "records": records}))

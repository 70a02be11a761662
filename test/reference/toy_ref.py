#!/usr/bin/env python3
"""Reference: the 2-D toy of test/toy2d.test.ts trained by iCT in Python torch, in float32 and in
bf16 autocast, to say what "bf16 converges like float32" can mean on this problem.

Written from docs/method.md (sections 1-6) and the toy test's description, not from the
TypeScript: 8 Gaussians on a circle of radius 2 (std 0.1) scaled by 1/(2 sqrt 2); an MLP with
fixed random Fourier frequencies (scale 0.02) of c_noise = 0.25 ln sigma entering every layer;
iCT (stopgrad teacher, exponential curriculum s0 = 10, s1 = 1280, lognormal levels P_mean -1.1,
P_std 2, pseudo-Huber c = 0.00054 sqrt(2), weights 1/(sigma_{i+1} - sigma_i)); Adam lr 2e-3 decayed
linearly to 0 over the second half, gradient norm clipped to 10; EDM2's power EMA (sigma_rel 0.05)
for evaluation; one-step samples f(80 z, 80) of the EMA network against held-out data by the
sliced Wasserstein distance (128 directions, 8 sets of 1000 points), with the distance between two
held-out sets as the baseline.

bf16: torch.autocast('cpu', dtype=torch.bfloat16) around the student and teacher forward passes
(and the loss computed there), backward outside it; weights, gradients, Adam state and EMA stay
float32 (as torch.autocast and GradScaler-free bf16 training do). The EMA network samples in float32.
'bf16-fp32-output' is bf16 with the last layer (F's output) run in float32, to show where bf16's loss
floor comes from.

usage: toy_ref.py --seeds 1,2 --precisions fp32,bf16 [--steps 3000] [--threads 1]
Prints one JSON line per (seed, precision): swd, baseline, ratio, untrained_ratio, first_loss,
last_loss (means of the first and last 50 step losses), seconds.
"""
import argparse
import functools
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from schedules_ref import ict_N, karras, lognormal_probs

MODES, RADIUS, MODE_STD, SCALE = 8, 2.0, 0.1, 1 / (2 * math.sqrt(2))
SIGMA_MIN, SIGMA_MAX, SIGMA_DATA = 0.002, 80.0, 0.5
BATCH, LR, HIDDEN, FOURIER_SCALE = 256, 2e-3, 128, 0.02
EVAL_POINTS, EVAL_SETS = 1000, 8
HUBER_C = 0.00054 * math.sqrt(2)


def mixture(n, g):
    k = torch.randint(0, MODES, (n,), generator=g).float() * (2 * math.pi / MODES)
    centers = torch.stack([k.cos(), k.sin()], 1) * RADIUS
    return (centers + torch.randn(n, 2, generator=g) * MODE_STD) * SCALE


class ToyMlp(nn.Module):
    def __init__(self, float32_output=False):
        super().__init__()
        self.register_buffer('freqs', torch.randn(16) * (2 * math.pi * FOURIER_SCALE))
        self.emb = nn.Linear(32, HIDDEN)
        self.inp = nn.Linear(2, HIDDEN)
        self.hidden = nn.ModuleList([nn.Linear(HIDDEN, HIDDEN) for _ in range(2)])
        self.out = nn.Linear(HIDDEN, 2)
        self.float32_output = float32_output

    def forward(self, x, c_noise):
        phase = c_noise[:, None] * self.freqs[None, :]
        e = self.emb(torch.cat([phase.sin(), phase.cos()], 1))
        h = F.silu(self.inp(x) + e)
        for layer in self.hidden:
            h = F.silu(layer(h) + e)
        if self.float32_output:
            with torch.autocast('cpu', enabled=False):
                return self.out(h.float())
        return self.out(h)


def denoise(net, x, sigma):
    """f(x, sigma) = c_skip x + c_out F(c_in x, 0.25 ln sigma); sigma [N] float64."""
    c_skip = SIGMA_DATA**2 / ((sigma - SIGMA_MIN) ** 2 + SIGMA_DATA**2)
    c_out = (sigma - SIGMA_MIN) * SIGMA_DATA / torch.sqrt(sigma**2 + SIGMA_DATA**2)
    c_in = 1 / torch.sqrt(sigma**2 + SIGMA_DATA**2)
    col = lambda v: v.float()[:, None]  # noqa: E731
    return col(c_skip) * x + col(c_out) * net(col(c_in) * x, (0.25 * torch.log(sigma)).float())


def power_ema_gamma(sigma_rel):
    """EDM2: the gamma > 0 with sigma_rel^2 = (gamma + 1) / ((gamma + 2)^2 (gamma + 3)), by bisection (the right side decreases)."""
    lo, hi = 0.0, 1e6
    for _ in range(200):
        mid = (lo + hi) / 2
        if (mid + 1) / ((mid + 2) ** 2 * (mid + 3)) > sigma_rel**2:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def swd(a, b, directions=128):
    """Sliced 1-Wasserstein distance of two [n, 2] sets of equal size over `directions` angles in [0, pi)."""
    angles = math.pi * torch.arange(directions, dtype=torch.float64) / directions
    u = torch.stack([angles.cos(), angles.sin()], 1)
    pa = (a.double() @ u.T).sort(0).values
    pb = (b.double() @ u.T).sort(0).values
    return float((pa - pb).abs().mean())


def evaluate(net, seed):
    net.eval()
    g = torch.Generator().manual_seed(seed + 6)
    s, base = 0.0, 0.0
    with torch.no_grad():
        for _ in range(EVAL_SETS):
            z = torch.randn(EVAL_POINTS, 2, generator=g)
            m = denoise(net, SIGMA_MAX * z, torch.full((EVAL_POINTS,), SIGMA_MAX, dtype=torch.float64)).clamp(-1, 1)
            a, b = mixture(EVAL_POINTS, g), mixture(EVAL_POINTS, g)
            s += swd(m, a) / EVAL_SETS
            base += swd(b, a) / EVAL_SETS
    net.train()
    return s, base


@functools.lru_cache(maxsize=None)
def levels(n):
    """The Karras levels of N = n and iCT's lognormal probabilities of the n - 1 pairs (float64)."""
    sig = karras(n)
    return torch.tensor(sig, dtype=torch.float64), torch.tensor(lognormal_probs(sig), dtype=torch.float64)


def train(seed, precision, steps):
    started = time.time()
    torch.manual_seed(seed)
    net = ToyMlp(float32_output=precision == 'bf16-fp32-output')
    untrained, _ = evaluate(net, seed)
    ema = ToyMlp()
    ema.load_state_dict(net.state_dict())
    gamma = power_ema_gamma(0.05)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    g = torch.Generator().manual_seed(seed + 5)
    gl = torch.Generator().manual_seed(seed + 3)
    losses = []
    for k in range(steps):
        lr = LR * min(1.0, 2 * (steps - k) / steps)
        for group in opt.param_groups:
            group['lr'] = lr
        n = ict_N(k, steps)
        sig, probs = levels(n)
        i = torch.multinomial(probs, BATCH, replacement=True, generator=gl)
        s_t, s_s = sig[i], sig[i + 1]
        weight = (1 / (s_s - s_t)).float()
        x = mixture(BATCH, g)
        z = torch.randn(BATCH, 2, generator=g)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision != 'fp32'):
            student = denoise(net, x + s_s.float()[:, None] * z, s_s)
            with torch.no_grad():
                teacher = denoise(net, x + s_t.float()[:, None] * z, s_t)
            d = torch.sqrt((student.float() - teacher.float()).square().sum(1) + HUBER_C**2) - HUBER_C
            loss = (weight * d).mean()
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        beta = (1 - 1 / (k + 1)) ** (gamma + 1)
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - beta)
        losses.append(float(loss))
    s, base = evaluate(ema, seed)
    return {
        'seed': seed,
        'precision': precision,
        'swd': s,
        'baseline': base,
        'ratio': s / base,
        'untrained_ratio': untrained / base,
        'first_loss': sum(losses[:50]) / 50,
        'last_loss': sum(losses[-50:]) / 50,
        'seconds': time.time() - started,
        'torch': torch.__version__,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seeds', default='1')
    ap.add_argument('--precisions', default='fp32,bf16')
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for seed in [int(s) for s in a.seeds.split(',')]:
        for p in a.precisions.split(','):
            print(json.dumps(train(seed, p, a.steps)), flush=True)


if __name__ == '__main__':
    main()

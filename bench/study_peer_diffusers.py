"""The study's diffusers peer (issue 13): consistency training as diffusers' research example
examples/research_projects/consistency_training/train_cm_ct_unconditional.py does it, on MNIST 28x28 at
the study's budget (the mnist-quick preset's steps and batch), with a diffusers UNet2DModel of about
the preset's size and diffusers' CMStochasticIterativeScheduler for the consistency scalings. Written
here from the example's description and defaults (not a copy): the example itself is not in the PyPI
wheel and needs accelerate and datasets.

--variant published: the example's defaults and formulas:
  AdamW lr 1e-4, betas (0.95, 0.999), weight decay 1e-6; cosine schedule with 500 warm-up steps;
  gradient norm clipped to 1.0; no EMA (--use_ema is off by default, so samples come from the trained
  weights); curriculum s0 10, s1 1280 (docs/method.md section 2); lognormal levels P_mean -1.1, P_std 2.0;
  lambda = 1 / (sigma_{i+1} - sigma_i); teacher = the current weights;
  and its deviations from the paper (docs/method.md sections 1 and 4): pseudo-Huber per element (mean over
  values of sqrt(d^2 + c^2) - c), c_in = 1 / (sigma^2 + sigma_data^2) (no square root), c_skip and
  c_out without the sigma_min offset (f(x, sigma_min) != x) and c_out = sigma / sqrt(sigma^2 + sigma_data^2)
  without the factor sigma_data (its scalings_for_boundary_conditions).
--variant corrected: the same, with those deviations corrected: pseudo-Huber on the whole
  sample (docs/method.md section 4), and c_in, c_skip, c_out from CMStochasticIterativeScheduler
  (scale_model_input's 1 / sqrt(sigma^2 + sigma_data^2) and get_scalings_for_boundary_condition).
Both: c_noise = the scheduler's sigma_to_t (1000 * 0.25 * ln(sigma + 1e-44)), as the example's "cm"
preconditioning; the network sees the same dropout mask in the student and teacher pass (dropout is 0).

Sampling, for the judge: the paper's multistep loop (docs/method.md section 6) with every estimate clipped to
[-1, 1], levels [80] and [80, 0.821], 400 samples each from seeded noise; grids as src/image/grid.ts
lays them out (28x28 tiles, 2 pixels of white padding).

Resumable: a checkpoint (model, optimizer, schedule, step, RNG) every 100 steps, written atomically;
rerunning with the same --out continues. Prints one JSON line when done.

usage: PYTHONPATH=.cache/study-peers python3 bench/study_peer_diffusers.py --out DIR --seed S
       [--variant published|corrected] [--steps 2200] [--batch 32] [--samples 400]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_judge import read_idx  # noqa: E402  (the same MNIST files the judge reads)

try:
    import diffusers
    from diffusers import CMStochasticIterativeScheduler, UNet2DModel
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from PIL import Image
except ImportError as e:
    sys.exit(f'study_peer_diffusers: {e}; install the peers with STUDY_PEERS=1 bash scripts/setup.sh (into .cache/study-peers)')

SIGMA_MIN, SIGMA_MAX, SIGMA_DATA, RHO = 0.002, 80.0, 0.5, 7.0


def karras_levels(n):
    """n Karras levels, increasing (docs/method.md section 2)."""
    ramp = np.linspace(0, 1, n)
    return torch.from_numpy((SIGMA_MIN ** (1 / RHO) + ramp * (SIGMA_MAX ** (1 / RHO) - SIGMA_MIN ** (1 / RHO))) ** RHO).float()


def levels_at(step, total, s0=10, s1=1280):
    """iCT's exponential curriculum N(k) (docs/method.md section 2)."""
    k_prime = max(1, math.floor(total / (math.log2(math.floor(s1 / s0)) + 1)))  # max: runs shorter than the doubling count
    return min(s0 * 2 ** math.floor(step / k_prime), s1) + 1


def network():
    # About the mnist-quick network's size (0.28M vs 0.31M parameters): 28 -> 14 -> 7, attention at 7x7.
    return UNet2DModel(
        sample_size=28, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(16, 32, 32), norm_num_groups=8, attention_head_dim=8,
        down_block_types=('DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'), up_block_types=('AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'),
    )


class Consistency:
    """f(x, sigma) of one variant."""

    def __init__(self, variant):
        self.variant = variant
        self.scheduler = CMStochasticIterativeScheduler(sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, sigma_data=SIGMA_DATA, rho=RHO)

    def __call__(self, unet, x, sigma):
        s = sigma.view(-1, 1, 1, 1)
        if self.variant == 'published':
            c_in = 1.0 / (s ** 2 + SIGMA_DATA ** 2)
            c_skip = SIGMA_DATA ** 2 / (s ** 2 + SIGMA_DATA ** 2)
            c_out = s / (s ** 2 + SIGMA_DATA ** 2) ** 0.5
        else:
            c_in = 1.0 / (s ** 2 + SIGMA_DATA ** 2) ** 0.5
            c_skip, c_out = self.scheduler.get_scalings_for_boundary_condition(s)
        c_noise = torch.from_numpy(np.atleast_1d(self.scheduler.sigma_to_t(sigma.double().numpy()))).float()
        return c_skip * x + c_out * unet(c_in * x, c_noise).sample


def pseudo_huber(a, b, c, variant):
    if variant == 'published':
        return (torch.sqrt((a - b) ** 2 + c ** 2) - c).flatten(1).mean(1)
    return torch.sqrt(((a - b) ** 2).flatten(1).sum(1) + c ** 2) - c


def save_atomic(obj, path):
    torch.save(obj, path + '.tmp')
    os.replace(path + '.tmp', path)


def write_grid(path, images):
    """uint8 [N, 28, 28] as a grid of 28x28 tiles with 2 pixels of white padding (src/image/grid.ts's layout)."""
    n = len(images)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * 30 + 2, cols * 30 + 2), 255, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        grid[2 + r * 30:2 + r * 30 + 28, 2 + c * 30:2 + c * 30 + 28] = img
    Image.fromarray(grid, 'L').save(path + '.tmp.png')
    os.replace(path + '.tmp.png', path)


@torch.no_grad()
def sample(unet, f, levels, n, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 1, 28, 28, generator=g)
    x = f(unet, z * levels[0], torch.full((n,), levels[0])).clamp(-1, 1)
    for t in levels[1:]:
        x = x + math.sqrt(t * t - SIGMA_MIN ** 2) * torch.randn(x.shape, generator=g)
        x = f(unet, x, torch.full((n,), t)).clamp(-1, 1)
    return ((x[:, 0] + 1) * 127.5).round().clamp(0, 255).numpy().astype(np.uint8)  # as src/image/grid.ts rounds


def main():
    ap = argparse.ArgumentParser(description='diffusers consistency-training peer on MNIST')
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--variant', choices=['published', 'corrected'], default='published')
    ap.add_argument('--steps', type=int, default=2200)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--samples', type=int, default=400)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (default: torch decides)')
    a = ap.parse_args()
    if a.steps < 1 or a.batch < 1 or a.samples < 2:
        sys.exit('study_peer_diffusers: --steps and --batch must be >= 1, --samples >= 2')
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    ckpt = os.path.join(a.out, 'peer-checkpoint.pt')

    torch.manual_seed(a.seed)
    unet = network()
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=500, num_training_steps=a.steps)
    data = torch.from_numpy(read_idx('train-images-idx3-ubyte').astype(np.float32) / 127.5 - 1).unsqueeze(1)
    rng = np.random.default_rng(a.seed)
    order, pos, step, seconds = rng.permutation(len(data)), 0, 0, 0.0
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        unet.load_state_dict(state['unet'])
        opt.load_state_dict(state['opt'])
        sched.load_state_dict(state['sched'])
        step, order, pos, seconds = state['step'], state['order'], state['pos'], state['seconds']
        rng.bit_generator.state = state['rng']
        torch.set_rng_state(state['torch_rng'])
        print(f'peer: resuming at step {step}', file=sys.stderr)
    f = Consistency(a.variant)
    c = 0.00054 * math.sqrt(28 * 28)
    teacher = network()
    teacher.requires_grad_(False)
    started = time.perf_counter()
    unet.train()
    while step < a.steps:
        if pos + a.batch > len(data):
            order, pos = rng.permutation(len(data)), 0
        x = data[order[pos:pos + a.batch]]
        pos += a.batch
        sigmas = karras_levels(levels_at(step, a.steps))
        p = torch.special.erf((torch.log(sigmas[1:]) - -1.1) / (math.sqrt(2) * 2.0)) - torch.special.erf((torch.log(sigmas[:-1]) - -1.1) / (math.sqrt(2) * 2.0))
        i = torch.multinomial(p, a.batch, replacement=True)
        s_lo, s_hi = sigmas[i], sigmas[i + 1]
        z = torch.randn_like(x)
        teacher.load_state_dict(unet.state_dict())  # the example's teacher: the current weights, no gradient
        student = f(unet, x + s_hi.view(-1, 1, 1, 1) * z, s_hi)
        with torch.no_grad():
            target = f(teacher, x + s_lo.view(-1, 1, 1, 1) * z, s_lo)
        loss = (pseudo_huber(student, target, c, a.variant) / (s_hi - s_lo)).mean()
        if not torch.isfinite(loss):
            sys.exit(f'peer: loss is {loss.item()} at step {step}')
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if step % 50 == 0:
            print(f'peer: step {step}/{a.steps} loss {loss.item():.4f} N {len(sigmas)}', file=sys.stderr, flush=True)
        if step % 100 == 0 or step == a.steps:
            save_atomic({'unet': unet.state_dict(), 'opt': opt.state_dict(), 'sched': sched.state_dict(), 'step': step, 'order': order, 'pos': pos,
                         'seconds': seconds + time.perf_counter() - started, 'rng': rng.bit_generator.state, 'torch_rng': torch.get_rng_state()}, ckpt)
    seconds += time.perf_counter() - started
    unet.eval()
    grids = {}
    for name, levels in [('1step', [SIGMA_MAX]), ('2step', [SIGMA_MAX, 0.821])]:
        grids[name] = os.path.join(a.out, f'judge-{name}.png')
        write_grid(grids[name], sample(unet, f, levels, a.samples, 1000))
    grid64 = os.path.join(a.out, 'grid-64.png')
    write_grid(grid64, sample(unet, f, [SIGMA_MAX], 64, 1000))
    print(json.dumps({'variant': a.variant, 'diffusers': diffusers.__version__, 'parameters': sum(p.numel() for p in unet.parameters()),
                      'steps': step, 'trainSeconds': round(seconds), 'grids': grids, 'grid64': grid64}))


if __name__ == '__main__':
    main()

"""What the study's peers share (bench/study_peer_diffusers.py, bench/study_peer_kinyugo.py): their
command line, MNIST with its labels, the diffusers UNet2DModel both train (about the mnist-quick
network's size), the per-sample pseudo-Huber of their corrected variants, a resumable training loop,
and the judge's grids.

The study (bench/study.ts) passes every peer the preset's budget and task: --steps, --batch,
--classes (class-conditional when > 0, as the preset is), --sigma-max and --second-sigma (the
preset's two-step level). The peer's own method choices (optimizer, schedule, loss, scalings) are
what the peer script sets per --variant.

The peers are run as scripts (python3 bench/study_peer_X.py), so bench/ is on sys.path.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

from mnist_judge import read_idx  # the same MNIST files the judge reads

try:
    from diffusers import UNet2DModel
    from PIL import Image
except ImportError as e:
    sys.exit(f'study peer: {e}; install the peers with STUDY_PEERS=1 bash scripts/setup.sh (into .cache/study-peers)')

SIGMA_MIN, SIGMA_DATA, RHO = 0.002, 0.5, 7.0
# The judge's seed for the sample noise (bench/study.ts SAMPLE_SEED).
SAMPLE_SEED = 1000


def per_sample_pseudo_huber(a, b):
    """iCT's pseudo-Huber on the whole sample (docs/method.md section 4), per sample:
    sqrt(||a - b||^2 + c^2) - c with c = 0.00054 sqrt(d), d the values per sample. Both peers' corrected
    variants use it."""
    c = 0.00054 * math.sqrt(a[0].numel())
    return torch.sqrt(((a - b) ** 2).flatten(1).sum(1) + c ** 2) - c


def parse_args(description, variants):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--variant', choices=variants, default=variants[0])
    ap.add_argument('--steps', type=int, default=2800)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--classes', type=int, default=10, help='class-conditional on the digit labels when > 0 (0: unconditional)')
    ap.add_argument('--sigma-max', type=float, default=20.0)
    ap.add_argument('--second-sigma', type=float, default=0.821, help='the intermediate level of two-step sampling')
    ap.add_argument('--samples', type=int, default=400)
    ap.add_argument('--threads', type=int, default=0, help='torch threads (default: torch decides)')
    ap.add_argument('--loss', choices=['per-element', 'per-sample'], default=None,
                    help="a diagnostic: the pseudo-Huber of the other variant, to tell which correction matters "
                         "(default: the variant's own, per element when published, per sample when corrected)")
    a = ap.parse_args()
    if a.steps < 1 or a.batch < 1 or a.samples < 2 or a.classes not in (0, 10):
        sys.exit('study peer: --steps and --batch must be >= 1, --samples >= 2, --classes 0 or 10')
    if not (SIGMA_MIN < a.second_sigma < a.sigma_max):
        sys.exit(f'study peer: need {SIGMA_MIN} < --second-sigma < --sigma-max')
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.loss is None:
        a.loss = 'per-element' if a.variant == 'published' else 'per-sample'
    os.makedirs(a.out, exist_ok=True)
    return a


def mnist():
    """Training digits in [-1, 1], [60000, 1, 28, 28], and their labels (int64)."""
    images = torch.from_numpy(read_idx('train-images-idx3-ubyte').astype(np.float32) / 127.5 - 1).unsqueeze(1)
    labels = torch.from_numpy(read_idx('train-labels-idx1-ubyte').astype(np.int64))
    return images, labels


def network(classes):
    """0.28M parameters (the mnist-quick network has 0.31M): 28 -> 14 -> 7, attention at 7x7; a
    class-embedding table added to the time embedding when classes > 0 (UNet2DModel's
    num_class_embeds, what diffusers' example builds for --class_conditional)."""
    return UNet2DModel(
        sample_size=28, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(16, 32, 32), norm_num_groups=8, attention_head_dim=8,
        down_block_types=('DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'), up_block_types=('AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'),
        num_class_embeds=classes or None,
    )


def sample_labels(n, classes):
    """Tile i asks for digit i mod classes, as `consistency sample` and the judge's --labels-cycle do."""
    return torch.arange(n) % classes if classes else None


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


def to_u8(x):
    """[-1, 1] images as uint8 [N, 28, 28], rounded as src/image/grid.ts rounds."""
    return ((x[:, 0] + 1) * 127.5).round().clamp(0, 255).numpy().astype(np.uint8)


def train(a, unet, stateful, loss_fn, after_step=None, clip_grad=None):
    """Trains `unet` for a.steps steps of `loss_fn(step, x, labels) -> scalar loss`, resumably: a
    checkpoint of the unet, every object in `stateful` (name -> has state_dict/load_state_dict: the
    optimizer, its schedule, an EMA), the data order and both RNGs every 100 steps, written
    atomically. `after_step(step)` runs after each optimizer step. Returns the training seconds."""
    ckpt = os.path.join(a.out, 'peer-checkpoint.pt')
    opt = stateful['opt']
    data, labels = mnist()
    rng = np.random.default_rng(a.seed)
    order, pos, step, seconds = rng.permutation(len(data)), 0, 0, 0.0
    if os.path.exists(ckpt):
        state = torch.load(ckpt, weights_only=False)
        unet.load_state_dict(state['unet'])
        for name, obj in stateful.items():
            obj.load_state_dict(state[name])
        step, order, pos, seconds = state['step'], state['order'], state['pos'], state['seconds']
        rng.bit_generator.state = state['rng']
        torch.set_rng_state(state['torch_rng'])
        print(f'peer: resuming at step {step}', file=sys.stderr)
    started = time.perf_counter()
    unet.train()
    while step < a.steps:
        if pos + a.batch > len(data):
            order, pos = rng.permutation(len(data)), 0
        idx = order[pos:pos + a.batch]
        pos += a.batch
        loss = loss_fn(step, data[idx], labels[idx] if a.classes else None)
        if not torch.isfinite(loss):
            sys.exit(f'peer: loss is {loss.item()} at step {step}')
        opt.zero_grad()
        loss.backward()
        if clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(unet.parameters(), clip_grad)
        opt.step()
        step += 1
        if after_step is not None:
            after_step(step)
        if step % 50 == 0:
            print(f'peer: step {step}/{a.steps} loss {loss.item():.4f}', file=sys.stderr, flush=True)
        if step % 100 == 0 or step == a.steps:
            save_atomic({'unet': unet.state_dict(), **{k: v.state_dict() for k, v in stateful.items()}, 'step': step, 'order': order, 'pos': pos,
                         'seconds': seconds + time.perf_counter() - started, 'rng': rng.bit_generator.state, 'torch_rng': torch.get_rng_state()}, ckpt)
    return seconds + time.perf_counter() - started


def write_judge_grids(a, seconds, sample, info):
    """Writes the judge's one- and two-step grids (a.samples each) and a 64-sample grid from
    `sample(levels, n, labels) -> [-1, 1] images` under seeded noise, and prints the JSON line
    bench/study.ts reads."""
    grids = {}
    for name, levels, n in [('1step', [a.sigma_max], a.samples), ('2step', [a.sigma_max, a.second_sigma], a.samples), ('64', [a.sigma_max], 64)]:
        torch.manual_seed(SAMPLE_SEED)
        with torch.no_grad():
            images = to_u8(sample(levels, n, sample_labels(n, a.classes)))
        grids[name] = os.path.join(a.out, f'judge-{name}.png' if name != '64' else 'grid-64.png')
        write_grid(grids[name], images)
    print(json.dumps({**info, 'variant': a.variant, 'loss': a.loss, 'classes': a.classes, 'sigmaMax': a.sigma_max, 'steps': a.steps,
                      'trainSeconds': round(seconds), 'grids': {'1step': grids['1step'], '2step': grids['2step']}, 'grid64': grids['64']}))

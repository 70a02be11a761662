"""The study's diffusers peer (issue 13): consistency training as diffusers' research example
examples/research_projects/consistency_training/train_cm_ct_unconditional.py does it, on MNIST 28x28 at
the study's budget and task (the mnist-quick preset's steps, batch, sigma_max and class conditioning,
passed by bench/study.ts; the example trains class-conditionally with --class_conditional, an
embedding table of UNet2DModel's num_class_embeds), with a diffusers UNet2DModel of about the preset's
size (bench/study_peer_common.py) and diffusers' CMStochasticIterativeScheduler for the consistency scalings. Written
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
[-1, 1], levels [sigma_max] and [sigma_max, second sigma], 400 samples each from seeded noise, tile i asking for
digit i mod 10; grids as src/image/grid.ts lays them out (28x28 tiles, 2 pixels of white padding).

Resumable: a checkpoint (model, optimizer, schedule, step, RNG) every 100 steps, written atomically;
rerunning with the same --out continues. Prints one JSON line when done.

usage: PYTHONPATH=.cache/study-peers python3 bench/study_peer_diffusers.py --out DIR --seed S
       [--variant published|corrected] [--steps 2800] [--batch 32] [--classes 10] [--sigma-max 20]
       [--second-sigma 0.821] [--samples 400] [--loss per-element|per-sample]
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from study_peer_common import RHO, SIGMA_DATA, SIGMA_MIN, network, parse_args, per_sample_pseudo_huber, train, write_judge_grids  # noqa: E402

import diffusers  # noqa: E402  (study_peer_common has checked that the peers are installed)
from diffusers import CMStochasticIterativeScheduler  # noqa: E402
from diffusers.optimization import get_cosine_schedule_with_warmup  # noqa: E402


def karras_levels(n, sigma_max):
    """n Karras levels, increasing (docs/method.md section 2)."""
    ramp = np.linspace(0, 1, n)
    return torch.from_numpy((SIGMA_MIN ** (1 / RHO) + ramp * (sigma_max ** (1 / RHO) - SIGMA_MIN ** (1 / RHO))) ** RHO).float()


def levels_at(step, total, s0=10, s1=1280):
    """iCT's exponential curriculum N(k) (docs/method.md section 2)."""
    k_prime = max(1, math.floor(total / (math.log2(math.floor(s1 / s0)) + 1)))  # max: runs shorter than the doubling count
    return min(s0 * 2 ** math.floor(step / k_prime), s1) + 1


class Consistency:
    """f(x, sigma) of one variant."""

    def __init__(self, variant, sigma_max):
        self.variant = variant
        self.scheduler = CMStochasticIterativeScheduler(sigma_min=SIGMA_MIN, sigma_max=sigma_max, sigma_data=SIGMA_DATA, rho=RHO)

    def __call__(self, unet, x, sigma, labels):
        s = sigma.view(-1, 1, 1, 1)
        if self.variant == 'published':
            c_in = 1.0 / (s ** 2 + SIGMA_DATA ** 2)
            c_skip = SIGMA_DATA ** 2 / (s ** 2 + SIGMA_DATA ** 2)
            c_out = s / (s ** 2 + SIGMA_DATA ** 2) ** 0.5
        else:
            c_in = 1.0 / (s ** 2 + SIGMA_DATA ** 2) ** 0.5
            c_skip, c_out = self.scheduler.get_scalings_for_boundary_condition(s)
        c_noise = torch.from_numpy(np.atleast_1d(self.scheduler.sigma_to_t(sigma.double().numpy()))).float()
        return c_skip * x + c_out * unet(c_in * x, c_noise, class_labels=labels).sample


def pseudo_huber(a, b, c, kind):
    if kind == 'per-element':  # the example's: the mean over values of sqrt(d^2 + c^2) - c
        return (torch.sqrt((a - b) ** 2 + c ** 2) - c).flatten(1).mean(1)
    return per_sample_pseudo_huber(a, b)


def main():
    a = parse_args('diffusers consistency-training peer on MNIST', ['published', 'corrected'])
    torch.manual_seed(a.seed)
    unet = network(a.classes)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=500, num_training_steps=a.steps)
    f = Consistency(a.variant, a.sigma_max)
    c = 0.00054 * math.sqrt(28 * 28)
    teacher = network(a.classes)
    teacher.requires_grad_(False)

    def loss_fn(step, x, labels):
        sigmas = karras_levels(levels_at(step, a.steps), a.sigma_max)
        p = torch.special.erf((torch.log(sigmas[1:]) - -1.1) / (math.sqrt(2) * 2.0)) - torch.special.erf((torch.log(sigmas[:-1]) - -1.1) / (math.sqrt(2) * 2.0))
        i = torch.multinomial(p, len(x), replacement=True)
        s_lo, s_hi = sigmas[i], sigmas[i + 1]
        z = torch.randn_like(x)
        teacher.load_state_dict(unet.state_dict())  # the example's teacher: the current weights, no gradient
        student = f(unet, x + s_hi.view(-1, 1, 1, 1) * z, s_hi, labels)
        with torch.no_grad():
            target = f(teacher, x + s_lo.view(-1, 1, 1, 1) * z, s_lo, labels)
        return (pseudo_huber(student, target, c, a.loss) / (s_hi - s_lo)).mean()

    seconds = train(a, unet, {'opt': opt, 'sched': sched}, loss_fn, after_step=lambda _: sched.step(), clip_grad=1.0)
    unet.eval()

    def sample(levels, n, labels):
        # The paper's multistep loop (docs/method.md section 6), every estimate clipped to [-1, 1].
        x = f(unet, torch.randn(n, 1, 28, 28) * levels[0], torch.full((n,), levels[0]), labels).clamp(-1, 1)
        for t in levels[1:]:
            x = x + math.sqrt(t * t - SIGMA_MIN ** 2) * torch.randn(x.shape)
            x = f(unet, x, torch.full((n,), t), labels).clamp(-1, 1)
        return x

    write_judge_grids(a, seconds, sample, {'peer': 'diffusers', 'version': diffusers.__version__, 'parameters': sum(p.numel() for p in unet.parameters())})


if __name__ == '__main__':
    main()

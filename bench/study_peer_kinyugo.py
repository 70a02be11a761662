"""The study's second peer (issue 13): Kinyugo's `consistency_models` library (GitHub only, pinned at
commit 2e6618d4, installed by `STUDY_PEERS=1 bash scripts/setup.sh` into .cache/study-peers), its
ImprovedConsistencyTraining for the noisy pairs and its ConsistencySamplingAndEditing for the samples,
on MNIST 28x28 at the study's budget and task (the mnist-quick preset's steps, batch, sigma_max and
class conditioning, passed by bench/study.ts). The library brings no network and leaves the loss and
the optimizer to its user: the network is the diffusers peer's UNet2DModel (bench/study_peer_common.py,
0.28M parameters, class labels through the library's **kwargs), the rest as its README's iCT example.

--variant published: its README's iCT example: Adam lr 1e-4, betas (0.9, 0.995), no schedule, no EMA
  ("no exponential moving average of the model is required"); ImprovedConsistencyTraining's defaults
  s0 10, s1 1280, P_std 2.0, with the README's lognormal_mean = +1.1 (the code's default is -1.1; the
  sign error docs/method.md section 3 notes); loss = (pseudo_huber_loss(predicted, target) *
  loss_weights).mean(): the library's pseudo-Huber is per element (docs/method.md section 4). The
  library calls the network on the raw noisy sample and the raw sigma (model(x, sigma)): no c_in, and
  the UNet's sinusoidal time embedding gets sigma itself.
--variant corrected: the same with those deviations corrected: lognormal_mean -1.1, pseudo-Huber on the
  whole sample (c = 0.00054 sqrt(784)), and the network wrapped to see c_in x and c_noise =
  1000 * 0.25 ln(sigma + 1e-44) (docs/method.md section 1; the positional-embedding form, as the
  diffusers peer).
Both: c_skip and c_out are the library's (with the sigma_min offset, as the paper); sampling is the
library's loop with clip_denoised=True (as its README samples), at [sigma_max] and [sigma_max, second
sigma], from noise seeded by study_peer_common.SAMPLE_SEED, tile i asking for digit i mod 10.

usage: PYTHONPATH=.cache/study-peers python3 bench/study_peer_kinyugo.py --out DIR --seed S
       [--variant published|corrected] [--steps 2800] [--batch 32] [--classes 10] [--sigma-max 20]
       [--second-sigma 0.821] [--samples 400] [--loss per-element|per-sample]
"""
import importlib.metadata
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from study_peer_common import SIGMA_DATA, SIGMA_MIN, network, parse_args, per_sample_pseudo_huber, train, write_judge_grids  # noqa: E402

try:
    from consistency_models import ConsistencySamplingAndEditing, ImprovedConsistencyTraining, pseudo_huber_loss
except ImportError as e:
    sys.exit(f'study_peer_kinyugo: {e}; install the peers with STUDY_PEERS=1 bash scripts/setup.sh (into .cache/study-peers)')


def installed_commit():
    """The commit pip installed (its direct_url.json; the library has no release, its version string is 0.0.3)."""
    direct = importlib.metadata.distribution('consistency_models').read_text('direct_url.json')
    return json.loads(direct)['vcs_info']['commit_id'] if direct else 'unknown'


class Network(nn.Module):
    """The library's network contract, model(x, sigma, **kwargs), over a UNet2DModel."""

    def __init__(self, unet, variant):
        super().__init__()
        self.unet = unet
        self.variant = variant

    def forward(self, x, sigma, class_labels=None):
        if self.variant == 'published':
            return self.unet(x, sigma, class_labels=class_labels).sample
        c_in = (sigma ** 2 + SIGMA_DATA ** 2).rsqrt().view(-1, 1, 1, 1)
        return self.unet(c_in * x, 250.0 * torch.log(sigma + 1e-44), class_labels=class_labels).sample


def main():
    a = parse_args("Kinyugo's consistency_models peer on MNIST", ['published', 'corrected'])
    if a.steps < 8:
        # The library's curriculum divides by floor(steps / (log2(s1 / s0) + 1)) = floor(steps / 8).
        sys.exit('study peer: Kinyugo\'s curriculum needs --steps >= 8 (it divides by steps // 8)')
    torch.manual_seed(a.seed)
    model = Network(network(a.classes), a.variant)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.995))
    ict = ImprovedConsistencyTraining(
        sigma_min=SIGMA_MIN, sigma_max=a.sigma_max, rho=7.0, sigma_data=SIGMA_DATA, initial_timesteps=10, final_timesteps=1280,
        lognormal_mean=1.1 if a.variant == 'published' else -1.1, lognormal_std=2.0,
    )

    def loss_fn(step, x, labels):
        kwargs = {'class_labels': labels} if labels is not None else {}
        out = ict(model, x, step, a.steps, **kwargs)
        if a.loss == 'per-element':
            return (pseudo_huber_loss(out.predicted, out.target) * out.loss_weights).mean()
        return (per_sample_pseudo_huber(out.predicted, out.target) * out.loss_weights.flatten()).mean()

    seconds = train(a, model.unet, {'opt': opt}, loss_fn)
    model.eval()
    sampler = ConsistencySamplingAndEditing(sigma_min=SIGMA_MIN, sigma_data=SIGMA_DATA)

    def sample(levels, n, labels):
        kwargs = {'class_labels': labels} if labels is not None else {}
        return sampler(model, torch.zeros(n, 1, 28, 28), sigmas=levels, clip_denoised=True, **kwargs)

    write_judge_grids(a, seconds, sample, {'peer': 'kinyugo', 'version': installed_commit(), 'parameters': sum(p.numel() for p in model.parameters())})


if __name__ == '__main__':
    main()

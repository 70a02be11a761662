"""Python's DistributedDataParallel (Gloo) side of bench/ddp.ts: one rank, torchrun environment.

    python3 bench/ddp_ref.py PRESET_NETWORK_JSON BATCH STEPS WARMUP

The step of bench/ddp_worker.ts (and test/reference/networks_ref.py's `bench`) on the rank's
share of the global batch, gradients averaged by DDP. Rank 0 prints {"stepMs": [...]}.
"""
import json
import os
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'reference'))
import networks_ref  # noqa: E402


def main(argv):
    cfg, B, steps, warmup = json.loads(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    dist.init_process_group('gloo', init_method='env://')
    rank, world = dist.get_rank(), dist.get_world_size()
    local = (rank + 1) * B // world - rank * B // world
    torch.manual_seed(rank)
    net = networks_ref.build(cfg).train()
    model = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    R, C = cfg['imgResolution'], cfg['inChannels']
    c = 0.00054 * (C * R * R) ** 0.5
    times = []
    for k in range(steps + warmup):
        t0 = time.perf_counter()
        x = torch.randn(local, C, R, R)
        z = torch.randn(local, C, R, R)
        sigma = torch.exp(torch.randn(local) * 2.0 - 1.1)
        s4 = sigma[:, None, None, None]
        student = model(x + s4 * z, 0.25 * torch.log(sigma), None)
        with torch.no_grad():
            teacher = net(x + 0.9 * s4 * z, 0.25 * torch.log(0.9 * sigma), None)
        diff = (student - teacher).flatten(1)
        loss = (torch.sqrt((diff * diff).sum(1) + c * c) - c).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if k >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    dist.destroy_process_group()
    if rank == 0:
        print(json.dumps({'stepMs': times}))


if __name__ == '__main__':
    main(sys.argv[1:])

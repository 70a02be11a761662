"""Python torch.distributed (Gloo) peers for test/distributed*.test.ts.

Each process is one rank, started with the torchrun environment (RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT) and joining with torch.distributed.init_process_group('gloo', init_method='env://').

  collectives               run the collectives of test/distributed-worker.ts's 'collectives'
                            scenario, in the same order, as a member of the same group as the
                            TypeScript ranks; print this rank's results as JSON.
  ddp CFG DIR STEPS LR      train networks_ref.py's network with DistributedDataParallel: weights
                            from DIR/init.safetensors, batches from DIR/data.safetensors (x, noise,
                            target: [STEPS, B, ...]); rank r takes rows [r B/N, (r+1) B/N) of each
                            global batch; loss = per-sample mean squared error, averaged over the
                            local batch (DDP averages over ranks: the global mean); Adam(LR).
                            Rank 0 writes DIR/py-final.safetensors.
  agent-store PORT          host the store on PORT that torchrun's elastic agent hosts for its
                            workers (TORCHELASTIC_USE_AGENT_STORE=True), with torchrun's own code:
                            the static rendezvous of one node, print "ready", and keep it until
                            stdin closes (no torchrun environment needed for this one).
"""
import json
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import networks_ref  # noqa: E402


def collectives():
    rank = dist.get_rank()
    r = rank
    out = {'rank': rank}
    b = torch.tensor([r * 10 + i for i in range(5)], dtype=torch.float32)
    dist.broadcast(b, src=1)
    out['broadcast'] = b.tolist()
    d = torch.tensor([r + 0.5, r * r, -r, 1e-300 * (r + 1)], dtype=torch.float64)
    dist.all_reduce(d)
    out['sum64'] = d.tolist()
    big = torch.arange(0, 64).to(torch.float32) * ((r + 1) / 7)
    dist.all_reduce(big)
    out['sum32'] = big.tolist()
    dist.barrier()
    n = torch.tensor([float(r), 1.0], dtype=torch.float64)
    dist.all_reduce(n)
    out['numbers'] = n.tolist()
    print(json.dumps(out))


def ddp(cfg, folder, steps, lr):
    torch.set_num_threads(1)
    rank, world = dist.get_rank(), dist.get_world_size()
    net = networks_ref.build(cfg)
    networks_ref.load_strict(net, networks_ref.load_tensors(os.path.join(folder, 'init.safetensors')))
    net.train()
    model = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    data = networks_ref.load_tensors(os.path.join(folder, 'data.safetensors'))
    B = data['x'].shape[1]
    lo, hi = rank * B // world, (rank + 1) * B // world
    for k in range(steps):
        x, noise, target = data['x'][k, lo:hi], data['noise'][k, lo:hi], data['target'][k, lo:hi]
        out = model(x, noise, None)
        per_sample = ((out - target) ** 2).flatten(1).mean(1)
        loss = per_sample.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if rank == 0:
        networks_ref.save_tensors({k: v.detach() for k, v in net.state_dict().items()}, os.path.join(folder, 'py-final.safetensors'))
    print(json.dumps({'rank': rank, 'ok': True}))


def agent_store(port):
    # What `torchrun --master-addr 127.0.0.1 --master-port PORT` (rdzv backend 'static', node 0 of
    # 1) does before it starts its workers: the same class, the same arguments.
    from torch.distributed.elastic.rendezvous.static_tcp_rendezvous import StaticTCPRendezvous

    handler = StaticTCPRendezvous('127.0.0.1', port, 0, 1, 'none', 60)
    handler.next_rendezvous()
    print('ready', flush=True)
    sys.stdin.read()
    del handler


def main(argv):
    if argv[0] == 'agent-store':
        agent_store(int(argv[1]))
        return
    dist.init_process_group('gloo', init_method='env://')
    try:
        if argv[0] == 'collectives':
            collectives()
        elif argv[0] == 'ddp':
            ddp(json.loads(argv[1]), argv[2], int(argv[3]), float(argv[4]))
        else:
            raise SystemExit(f'unknown command {argv[0]!r}\n{__doc__}')
    finally:
        dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1:])

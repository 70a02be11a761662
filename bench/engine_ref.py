#!/usr/bin/env python3
"""The Python torch side of bench/engine.ts: a long-lived peer that runs timed work on command.

It reads one JSON command per line on stdin and answers one JSON line on stdout, so the
TypeScript side can alternate blocks of its own steps with blocks of these (both sides are timed
under the same machine load). Commands:

  {"op": "hello"}                      -> torch version, the thread/OpenMP environment, pid
  {"op": "init", "weights": PATH}      -> builds the benchmark U-Net, loads PATH (safetensors
                                          written by the TS side: every parameter, plus the input
                                          "x" and the target "target"), makes torch.optim.Adam;
                                          answers the parameter count
  {"op": "threads", "n": N}            -> torch.set_num_threads(N); answers get_num_threads()
  {"op": "steps", "n": K}              -> K training steps; answers their wall and CPU times (ms,
                                          CPU = user + system of the whole process) and losses
  {"op": "chain", "length": L, "repeats": R}
                                       -> R timed chains of L steps x = x.mul(1.0001).add(0.0001)
                                          on a [16] tensor; answers the times (ms)
  {"op": "dump", "path": PATH}         -> writes every parameter, in state_dict order, as raw
                                          little-endian float32 (for exact comparisons in tests)
  {"op": "quit"}

Any failure answers {"error": message} and the peer keeps going; stdin closing ends it.
The U-Net here is the same network as bench/engine.ts (same module names, so the TS weights load
with strict=True); the optimizer is torch.optim.Adam itself, the reference the TS side's inline
Adam has to match.
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

import peer_common


class ResBlock(nn.Module):
    """GroupNorm(32) -> SiLU -> conv3x3, twice, plus the identity skip."""

    def __init__(self, channels):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(32, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


class BenchUNet(nn.Module):
    """The issue's benchmark U-Net: 3x32x32 in and out, 64 channels at 32x32, 128 at 16x16."""

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(3, 64, 3, padding=1)
        self.res32_0 = ResBlock(64)
        self.res32_1 = ResBlock(64)
        self.down = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.res16_0 = ResBlock(128)
        self.res16_1 = ResBlock(128)
        self.up_conv = nn.Conv2d(128, 64, 3, padding=1)
        self.merge = nn.Conv2d(128, 64, 3, padding=1)
        self.res_out = ResBlock(64)
        self.conv_out = nn.Conv2d(64, 3, 3, padding=1)

    def forward(self, x):
        skip = self.res32_1(self.res32_0(self.conv_in(x)))
        h = self.res16_1(self.res16_0(self.down(skip)))
        h = self.up_conv(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.merge(torch.cat([h, skip], dim=1))
        return self.conv_out(self.res_out(h))


class Peer:
    def __init__(self):
        self.net = None
        self.optimizer = None
        self.x = None
        self.target = None

    def hello(self, _cmd):
        return {**peer_common.hello(), "threads": torch.get_num_threads(), "parallel_info": torch.__config__.parallel_info()}

    def init(self, cmd):
        tensors = load_file(cmd["weights"])
        self.x = tensors.pop("x")
        self.target = tensors.pop("target")
        self.net = BenchUNet()
        self.net.load_state_dict(tensors, strict=True)
        self.net.train()
        # Adam with PyTorch 1.13's defaults except lr (docs/method.md section 5: lr 1e-4); foreach stays at
        # its default (the single-tensor loop on CPU in 1.13).
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cmd.get("lr", 1e-4))
        return {"params": sum(p.numel() for p in self.net.parameters()),
                "tensors": len(list(self.net.parameters()))}

    def threads(self, cmd):
        torch.set_num_threads(int(cmd["n"]))
        return {"threads": torch.get_num_threads()}

    def steps(self, cmd):
        times, cpu_times, losses = [], [], []
        for _ in range(int(cmd["n"])):
            c0 = time.process_time()
            t0 = time.perf_counter()
            # zero_grad(set_to_none=True) is PyTorch 2's default; the TS side drops grads too.
            self.optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(self.net(self.x), self.target)
            loss.backward()
            self.optimizer.step()
            value = loss.item()
            times.append((time.perf_counter() - t0) * 1000.0)
            cpu_times.append((time.process_time() - c0) * 1000.0)
            losses.append(value)
        return {"ms": times, "cpu_ms": cpu_times, "losses": losses}

    def dump(self, cmd):
        with open(cmd["path"], "wb") as f:
            for p in self.net.parameters():
                f.write(p.detach().contiguous().numpy().astype("<f4").tobytes())
        return {"params": sum(p.numel() for p in self.net.parameters())}

    def chain(self, cmd):
        length, repeats = int(cmd["length"]), int(cmd["repeats"])
        times = []
        for _ in range(repeats):
            x = torch.randn(16)
            t0 = time.perf_counter()
            for _ in range(length):
                x = x.mul(1.0001).add(0.0001)
            times.append((time.perf_counter() - t0) * 1000.0)
        return {"ms": times, "checksum": float(x.sum())}


def main():
    peer = Peer()
    peer_common.serve({"hello": peer.hello, "init": peer.init, "threads": peer.threads, "steps": peer.steps, "chain": peer.chain,
                       "dump": peer.dump})


if __name__ == "__main__":
    main()

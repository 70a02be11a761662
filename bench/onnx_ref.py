#!/usr/bin/env python3
"""The PyTorch eager side of bench/onnx.ts: one-step generation f(sigma_max z, sigma_max) of a
preset's network (test/reference/networks_ref.py) under torch.no_grad, on command (one JSON
line in, one out).

  {"op": "hello"}                                   -> torch version, thread environment
  {"op": "init", "config": {...}, "weights": PATH, "data": PATH, "threads": N,
   "sigma_max": S, "sigma_min": M, "sigma_data": D}  -> builds and loads the network (strict)
                                                       and the noise z; answers the output's
                                                       sum of absolute values (the TS side checks it)
  {"op": "run", "n": K}                             -> K timed one-step passes; wall ms each
  {"op": "quit"}

f(x, s) = c_skip x + c_out F(c_in x, 0.25 ln s) (docs/method.md section 1), clipped to [-1, 1].
"""
import math
import os
import sys
import time

import torch

import peer_common

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'reference'))
import networks_ref as ref  # noqa: E402

ref.UPSAMPLE = 'polyphase'


class Peer:
    def init(self, cmd):
        torch.set_num_threads(int(cmd['threads']))
        self.net = ref.build(cmd['config']).eval()
        ref.load_strict(self.net, ref.load_tensors(cmd['weights']))
        self.z = ref.load_tensors(cmd['data'])['z']
        self.s = float(cmd['sigma_max'])
        self.sigma_min = float(cmd['sigma_min'])
        self.sigma_data = float(cmd['sigma_data'])
        out = self.one_step()
        return {'threads': torch.get_num_threads(), 'abs_sum': float(out.abs().sum())}

    def one_step(self):
        s, sm, sd = self.s, self.sigma_min, self.sigma_data
        x = self.z * s
        n = x.shape[0]
        c_skip = sd ** 2 / ((s - sm) ** 2 + sd ** 2)
        c_out = sd * (s - sm) / math.sqrt(sd ** 2 + s ** 2)
        c_in = 1 / math.sqrt(s ** 2 + sd ** 2)
        with torch.no_grad():
            noise = torch.full((n,), 0.25 * math.log(s))
            return (c_skip * x + c_out * self.net(c_in * x, noise, None)).clamp(-1, 1)

    def run(self, cmd):
        times = []
        for _ in range(int(cmd['n'])):
            t0 = time.perf_counter()
            self.one_step()
            times.append((time.perf_counter() - t0) * 1000.0)
        return {'ms': times}


def main():
    peer = Peer()
    peer_common.serve({'hello': lambda _c: peer_common.hello(), 'init': peer.init, 'run': peer.run})


if __name__ == '__main__':
    main()

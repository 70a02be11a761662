#!/usr/bin/env python3
"""The Python torch side of bench/inception.ts: a long-lived peer timing the FID Inception forward.

One JSON command per line on stdin, one JSON answer per line on stdout:

  {"op": "hello"}                         -> torch version, thread environment, pid
  {"op": "init", "weights": PTH, "images": F32, "shape": [B, 3, H, W]}
                                          -> builds the network of test/reference/inception_ref.py,
                                             loads PTH, reads the images (float32 in [0, 1])
  {"op": "threads", "n": N}               -> torch.set_num_threads(N)
  {"op": "run", "n": K}                   -> K timed forward passes (resize to 299, pool3 features);
                                             answers their times in ms and the features' sum
  {"op": "quit"}

Any failure answers {"error": message}; stdin closing ends the peer.
"""
import os
import sys
import time

import numpy as np
import torch

import peer_common

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
from inception_ref import FidInception  # noqa: E402


class Peer:
    def __init__(self):
        self.net = None
        self.images = None

    def hello(self, _cmd):
        return peer_common.hello()

    def init(self, cmd):
        net = FidInception().eval()
        net.load_state_dict(torch.load(cmd["weights"]))
        self.net = net
        self.images = torch.from_numpy(np.fromfile(cmd["images"], dtype="<f4").reshape(cmd["shape"]))
        return {"params": sum(p.numel() for p in net.parameters())}

    def threads(self, cmd):
        torch.set_num_threads(int(cmd["n"]))
        return {"threads": torch.get_num_threads()}

    def run(self, cmd):
        ms = []
        total = 0.0
        with torch.no_grad():
            for _ in range(int(cmd["n"])):
                t0 = time.perf_counter()
                pool, _ = self.net(self.images)
                ms.append((time.perf_counter() - t0) * 1000)
                total = float(pool.double().sum())
        return {"ms": ms, "sum": total}


def main():
    peer = Peer()
    peer_common.serve({"hello": peer.hello, "init": peer.init, "threads": peer.threads, "run": peer.run})


if __name__ == "__main__":
    main()

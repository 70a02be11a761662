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
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
from inception_ref import FidInception  # noqa: E402

THREAD_ENV_PREFIXES = ("OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_")


class Peer:
    def __init__(self):
        self.net = None
        self.images = None

    def hello(self, _cmd):
        env = {k: v for k, v in os.environ.items() if k.startswith(THREAD_ENV_PREFIXES)}
        return {"torch": torch.__version__, "pid": os.getpid(), "env": env}

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
    handlers = {"hello": peer.hello, "init": peer.init, "threads": peer.threads, "run": peer.run}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if cmd.get("op") == "quit":
                break
            reply = handlers[cmd["op"]](cmd)
        except Exception as e:  # answer the error and keep serving
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

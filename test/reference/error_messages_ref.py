#!/usr/bin/env python3
"""Reference for test/errors.test.ts: the first line of the message Python's torch (the same
libtorch as the addon) raises for calls whose wording changed between libtorch versions.
Prints one JSON object."""
import json

import torch


def message(f):
    try:
        f()
    except RuntimeError as e:
        return str(e).split("\n")[0]
    raise SystemExit("expected a RuntimeError")


print(json.dumps({
    "matmulShapes": message(lambda: torch.ones(2, 3).matmul(torch.ones(4, 5))),
    "matmulDtypes": message(lambda: torch.ones(2, 3).matmul(torch.ones(3, 2, dtype=torch.float64))),
    "zerosNegative": message(lambda: torch.zeros(-1)),
}))

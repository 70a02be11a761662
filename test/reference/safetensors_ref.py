#!/usr/bin/env python3
"""The Python side of test/safetensors.test.ts, using Hugging Face's `safetensors` package.

    safetensors_ref.py read FILE    load FILE with safetensors.torch.load_file and print its tensors
    safetensors_ref.py write FILE   write a file of every dtype with safetensors.torch.save_file
                                    (fixed seed), then print its tensors as `read` would

Printed as one JSON object: {"metadata": {...}, "tensors": {name: {"dtype": safetensors dtype
name, "shape": [...], "b64": raw little-endian bytes, "sum": float64 sum}}}.
"""
import base64
import json
import sys

import torch

try:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
except ImportError:  # a missing prerequisite fails the test with the fix
    sys.exit(
        "safetensors is not installed for this Python; install it with\n"
        "  python3 -m pip install --target .cache/pydeps safetensors==0.4.5"
    )

ST_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def describe(path):
    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
    out = {}
    for name, t in tensors.items():
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        out[name] = {
            "dtype": ST_NAMES[t.dtype],
            "shape": list(t.shape),
            "b64": base64.b64encode(raw).decode("ascii"),
            "sum": float(t.to(torch.float64).sum()),
        }
    return {"metadata": metadata, "tensors": out}


def write(path):
    g = torch.Generator().manual_seed(20231010)
    tensors = {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "conv.bias": torch.randn(4, generator=g, dtype=torch.float64),
        "half": torch.randn(2, 5, generator=g).to(torch.float16),
        "brain": (torch.randn(3, 2, generator=g) * 100).to(torch.bfloat16),
        "steps": torch.randint(-(2**40), 2**40, (6,), generator=g, dtype=torch.int64),
        "ints32": torch.randint(-1000, 1000, (2, 2), generator=g, dtype=torch.int32),
        "ints16": torch.randint(-300, 300, (3,), generator=g, dtype=torch.int16),
        "ints8": torch.randint(-100, 100, (4,), generator=g, dtype=torch.int8),
        "pixels": torch.randint(0, 256, (2, 2, 3), generator=g, dtype=torch.uint8),
        "mask": torch.rand(5, generator=g) > 0.5,
        "scalar": torch.tensor(3.5),
        "nothing": torch.zeros(0, 3),
    }
    save_file(tensors, path, metadata={"format": "pt", "writer": "python safetensors"})


def main():
    command, path = sys.argv[1], sys.argv[2]
    if command == "write":
        write(path)
    elif command != "read":
        sys.exit(f"unknown command {command}")
    json.dump(describe(path), sys.stdout)


if __name__ == "__main__":
    main()

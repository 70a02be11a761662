"""Independent reader of a consistency-ts training checkpoint (test/train-checkpoint.test.ts).

Parses the safetensors layout by hand (8-byte little-endian header length, JSON header, data),
checks the metadata and the SHA-256 of the data section, loads the tensors with Python's
`safetensors`, and restores every `rng/<name>` state into a torch.Generator to draw 5 normals.
Prints one JSON object.
"""
import hashlib
import json
import struct
import sys

import torch
from safetensors.torch import load_file


def main(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.get("__metadata__", {})
    digest = hashlib.sha256(raw[8 + n :]).hexdigest()
    tensors = load_file(path)
    out = {
        "format": meta.get("format"),
        "version": meta.get("version"),
        "step": int(meta["step"]),
        "config": json.loads(meta["config"]),
        "state": json.loads(meta["state"]),
        "sha_ok": digest == meta.get("data_sha256"),
        "data_start_aligned": (8 + n) % 8 == 0,
        "tensors": {},
        "rng_draws": {},
    }
    for name, t in sorted(tensors.items()):
        if name.startswith("rng/"):
            g = torch.Generator()
            g.set_state(t)
            out["rng_draws"][name[4:]] = torch.randn(5, generator=g, dtype=torch.float64).tolist()
        else:
            out["tensors"][name] = {
                "dtype": str(t.dtype).replace("torch.", ""),
                "shape": list(t.shape),
                "sum": float(t.double().sum()),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])

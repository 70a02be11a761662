"""Writes torch.save checkpoints for test/torch-checkpoint.test.ts, with their expected contents.

usage: torch_checkpoint_ref.py OUT_DIR

OUT_DIR/state_zip.pt      a state dict in the zip format (torch >= 1.6 default)
OUT_DIR/state_legacy.pt   the same state dict in the legacy (pre-1.6) format
OUT_DIR/expected.json     {name: {dtype, shape, values}} read back by torch.load
OUT_DIR/evil_system.pt    a zip checkpoint whose pickle calls os.system (must be refused)
OUT_DIR/evil_eval.pt      a zip checkpoint whose pickle calls builtins.eval (must be refused)
OUT_DIR/evil_legacy.pt    a legacy checkpoint whose pickle calls os.system (must be refused)
The malicious payloads would create OUT_DIR/pwned_* if they ever ran.
"""
import collections
import json
import os
import sys

import torch


class CallsSystem:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, ("touch " + self.path,))


class CallsEval:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (eval, ("open(%r, 'w').close()" % self.path,))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    base = torch.randn(4, 6, generator=g)
    shared = torch.randn(10, generator=g)
    state = collections.OrderedDict()
    state["conv.weight"] = torch.randn(2, 3, 3, 3, generator=g)
    state["half"] = torch.randn(5, generator=g).half()
    state["bf16"] = torch.randn(3, generator=g).bfloat16()
    state["double"] = torch.randn(2, 2, generator=g).double()
    state["transposed"] = base.t()  # non-contiguous: strides (1, 6)
    state["strided"] = base[1:, ::2]  # storage offset 2, strides (6, 2)
    state["shared_a"] = shared[:4]  # two views of one storage
    state["shared_b"] = shared[3:].view(7)
    state["scalar"] = torch.tensor(2.5)
    state["long"] = torch.arange(-3, 4, dtype=torch.int64) * 1000000007
    state["int8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
    state["uint8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    state["mask"] = torch.tensor([True, False, True])
    state["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    state["bn.num_batches_tracked"] = torch.tensor(7)
    state["empty"] = torch.zeros(0, 3)
    state._metadata = {"": {"version": 1}}

    torch.save(state, os.path.join(out, "state_zip.pt"))
    torch.save(state, os.path.join(out, "state_legacy.pt"), _use_new_zipfile_serialization=False)

    expected = {}
    for k, v in torch.load(os.path.join(out, "state_zip.pt")).items():
        v = v.detach()
        expected[k] = {
            "dtype": str(v.dtype).replace("torch.", ""),
            "shape": list(v.shape),
            "values": [x for x in v.contiguous().reshape(-1).double().tolist()] if v.dtype != torch.int64 else [str(x) for x in v.reshape(-1).tolist()],
        }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)

    w = torch.randn(2, generator=g)
    torch.save({"w": w, "x": CallsSystem(os.path.join(out, "pwned_system"))}, os.path.join(out, "evil_system.pt"))
    torch.save({"w": w, "x": CallsEval(os.path.join(out, "pwned_eval"))}, os.path.join(out, "evil_eval.pt"))
    torch.save(
        {"w": w, "x": CallsSystem(os.path.join(out, "pwned_legacy"))},
        os.path.join(out, "evil_legacy.pt"),
        _use_new_zipfile_serialization=False,
    )
    print(json.dumps({"torch": torch.__version__}))


if __name__ == "__main__":
    main()

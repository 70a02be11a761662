#!/usr/bin/env python3
"""Reference optimizer trajectories for test/optim.test.ts: PyTorch's own torch.optim.Adam,
torch.optim.AdamW and torch.optim.RAdam (with torch.nn.utils.clip_grad_norm_ where asked) on a small
two-layer regression, 100 steps from initial weights and data given in a safetensors file.

Problem: y = V tanh(X W^T + b), loss = mean((y - Y)^2).
Input (stdin): JSON {"init": path, "cases": [{"name", "out", "optimizer": "adam"|"adamw"|"radam",
"lr", "betas", "eps", "weightDecay", "clip" (null or max norm), "steps"}]}.
Writes each case's final parameters to <out> (safetensors) and prints one JSON line per case with
the loss and gradient-norm history.
"""
import json
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from method_ref import load_safetensors, save_safetensors  # noqa: E402


def run(case, init):
    params = {k: init[k].clone().requires_grad_(True) for k in ("W", "b", "V")}
    X, Y = init["X"], init["Y"]
    kw = dict(lr=case["lr"], betas=tuple(case["betas"]), eps=case["eps"], weight_decay=case["weightDecay"])
    opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "radam": torch.optim.RAdam}[case["optimizer"]](params.values(), **kw)
    losses, norms = [], []
    for _ in range(case["steps"]):
        opt.zero_grad(set_to_none=True)
        h = torch.tanh(F.linear(X, params["W"], params["b"]))
        loss = ((F.linear(h, params["V"]) - Y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        if case["clip"] is not None:
            norms.append(torch.nn.utils.clip_grad_norm_(params.values(), case["clip"]).item())
        opt.step()
    save_safetensors(case["out"], {k: v.detach() for k, v in params.items()})
    return {"name": case["name"], "losses": losses, "norms": norms}


def main():
    torch.set_num_threads(1)
    spec = json.load(sys.stdin)
    init = load_safetensors(spec["init"])
    for case in spec["cases"]:
        print(json.dumps(run(case, init)))


if __name__ == "__main__":
    main()

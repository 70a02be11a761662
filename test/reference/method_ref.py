#!/usr/bin/env python3
"""Reference consistency-training losses and gradients for test/method-loss.test.ts.

Written from docs/method.md (sections 1-4) in Python torch, independently of the TypeScript code:
Karras levels, c_skip/c_out/c_in/c_noise, one shared noise draw z, the student at sigma_{i+1} with
gradients, the teacher at sigma_i under no_grad (the student's own weights, or EMA weights from a
file), the same dropout mask in both passes (the dropout generator's state restored between them),
the metric on the whole sample, and lambda(sigma_i).

The network is the tiny conv net of test/method-nets.ts (TinyConvNet) written again here.

`method_ref.py power-ema S1 S2 ...` prints EDM2's power-EMA exponents gamma for sigma_rel values.

Input (stdin): JSON {"cases": [...]} where each case names safetensors files (weights, data) and the
method settings. For each case it writes <out> (safetensors: loss, distances, grad.<param>) and
prints one JSON line per case. Safetensors are read and written with the safetensors package.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

# ---------------------------------------------------------------------------------------------
# safetensors I/O: the safetensors package (scripts/setup.sh installs it into .cache/pydeps)


def load_safetensors(path):
    return load_file(path)


def save_safetensors(path, tensors):
    save_file({name: t.detach().cpu().contiguous().clone() for name, t in tensors.items()}, path)


# ---------------------------------------------------------------------------------------------
# The network (TinyConvNet): conv3x3 -> + noise embedding + class embedding -> SiLU -> dropout -> conv3x3


def tiny_conv_net(params, x, noise_labels, class_labels, dropout_p, generator, training):
    n = x.shape[0]
    e = F.silu(F.linear(noise_labels.reshape(n, 1), params["noiseEmb.weight"], params["noiseEmb.bias"]))
    h = F.conv2d(x, params["conv1.weight"], params["conv1.bias"], padding=1)
    hidden = h.shape[1]
    h = h + e.reshape(n, hidden, 1, 1)
    if class_labels is not None:
        h = h + F.embedding(class_labels, params["classEmb"]).reshape(n, hidden, 1, 1)
    h = F.silu(h)
    if training and dropout_p > 0:
        keep = torch.empty_like(h).bernoulli_(1.0 - dropout_p, generator=generator)
        h = h * keep * (1.0 / (1.0 - dropout_p))
    return F.conv2d(h, params["conv2.weight"], params["conv2.bias"], padding=1)


# ---------------------------------------------------------------------------------------------
# The spec


def karras(n, smin, smax, rho):
    lo, hi = smin ** (1 / rho), smax ** (1 / rho)
    s = [(lo + i / (n - 1) * (hi - lo)) ** rho for i in range(n)]
    s[0], s[-1] = smin, smax
    return s


def scalings(s, smin, sd):
    c_skip = sd**2 / ((s - smin) ** 2 + sd**2)
    c_out = sd * (s - smin) / math.sqrt(sd**2 + s**2)
    c_in = 1 / math.sqrt(s**2 + sd**2)
    c_noise = 0.25 * math.log(s)
    return c_skip, c_out, c_in, c_noise


def per_sample(values, like):
    shape = [len(values)] + [1] * (like.dim() - 1)
    return torch.tensor(values, dtype=torch.float64).to(like.dtype).reshape(shape)


def consistency_fn(params, x, sigmas, labels, case, generator):
    sc = [scalings(s, case["sigmaMin"], case["sigmaData"]) for s in sigmas]
    c_skip = per_sample([c[0] for c in sc], x)
    c_out = per_sample([c[1] for c in sc], x)
    c_in = per_sample([c[2] for c in sc], x)
    c_noise = torch.tensor([c[3] for c in sc], dtype=torch.float64).to(x.dtype)
    out = tiny_conv_net(params, x * c_in, c_noise, labels, case["dropoutP"], generator, case["training"])
    return c_skip * x + c_out * out


def metric(a, b, kind, c):
    n = a.shape[0]
    sq = ((a - b) ** 2).reshape(n, -1).sum(1)
    if kind == "pseudo-huber":
        return torch.sqrt(sq + c * c) - c
    if kind == "l2":
        return sq
    if kind == "l1":
        return (a - b).abs().reshape(n, -1).sum(1)
    raise ValueError(kind)


def run_case(case):
    student = load_safetensors(case["studentFile"])
    for p in student.values():
        p.requires_grad_(True)
    teacher = load_safetensors(case["teacherFile"]) if case["teacher"] == "ema" else student
    data = load_safetensors(case["dataFile"])
    x, z = data["x"], data["z"]
    labels = data.get("labels")
    sigmas = karras(case["N"], case["sigmaMin"], case["sigmaMax"], case["rho"])
    idx = case["indices"]  # 0-based pair indices: (sigmas[j], sigmas[j + 1])
    s_teacher = [sigmas[j] for j in idx]
    s_student = [sigmas[j + 1] for j in idx]
    if case["weighting"] == "inverse-gap":
        weights = [1 / (sigmas[j + 1] - sigmas[j]) for j in idx]
    else:
        weights = [1.0] * len(idx)
    d = x[0].numel()
    c = case.get("c") or 0.00054 * math.sqrt(d)

    gen = torch.Generator().manual_seed(case["dropoutSeed"])
    state = gen.get_state()
    out_student = consistency_fn(student, x + z * per_sample(s_student, x), s_student, labels, case, gen)
    gen.set_state(state)  # the same dropout mask for the teacher pass
    with torch.no_grad():
        out_teacher = consistency_fn(teacher, x + z * per_sample(s_teacher, x), s_teacher, labels, case, gen)
    dist = metric(out_student, out_teacher, case["metric"], c)
    w = torch.tensor(weights, dtype=torch.float64).to(dist.dtype)
    loss = (dist * w).mean()
    loss.backward()
    out = {"loss": loss.detach().reshape(1), "distances": dist.detach()}
    for name, p in student.items():
        out["grad." + name] = p.grad
    save_safetensors(case["out"], out)
    return {"name": case["name"], "loss": loss.item(), "weights": weights, "sigmaTeacher": s_teacher, "sigmaStudent": s_student}


def power_ema_gammas(sigma_rels):
    """EDM2's power-function EMA exponent for each sigma_rel: the largest real root of
    gamma^3 + 7 gamma^2 + (16 - sigma_rel^-2) gamma + (12 - sigma_rel^-2) (numpy.roots)."""
    import numpy as np

    out = []
    for s in sigma_rels:
        t = s**-2
        roots = np.roots([1, 7, 16 - t, 12 - t])
        out.append(float(max(r.real for r in roots if abs(r.imag) < 1e-9)))
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "power-ema":
        print(json.dumps(power_ema_gammas([float(v) for v in sys.argv[2:]])))
        return
    spec = json.load(sys.stdin)
    torch.set_num_threads(1)
    for case in spec["cases"]:
        print(json.dumps(run_case(case)))


if __name__ == "__main__":
    main()

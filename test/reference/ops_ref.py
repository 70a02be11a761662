#!/usr/bin/env python3
"""Reference outputs and gradients of tensor ops for test/ops.test.ts, computed with Python's torch.

Reads one JSON list of cases on stdin and prints one JSON list of results (same order) on stdout.
A case is
    {"id": str, "op": str, "params": {...}, "precision": "float64" | "same",
     "inputs": [{"dtype": str, "shape": [int], "b64": base64 of little-endian bytes, "grad": bool}],
     "upstream": [null | {"dtype", "shape", "b64"}]}      (one entry per output of the op)
and its result is
    {"id": str, "outputs": [{"dtype", "shape", "b64": float64 bytes} | {"scalar": number | bool}],
     "grads": [null | {"dtype", "shape", "b64": float64 bytes}]}   (one per input)
or {"id": str, "error": str}.

The op runs twice: once in the inputs' own dtypes without gradients (the output dtypes come from
this run), and once with gradients, where "precision": "float64" first promotes every floating
input to float64 (so the reference carries no float32 rounding), and "same" keeps the dtypes (for
float16/bfloat16 cases and dtype conversions). The gradients are those of
sum_k sum(output_k * upstream_k) with respect to every input that has "grad": true.

The ops are written from PyTorch's documented Python API, independently of the TypeScript engine;
the names are the engine's op names so that one case names one op on both sides.
"""
import base64
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}
# The device of the inputs (the TypeScript side's CONSISTENCY_TEST_DEVICE: cpu or cuda).
DEVICE = os.environ.get("CONSISTENCY_TEST_DEVICE") or "cpu"
# float32 on CUDA as on the CPU (the TypeScript side turns TF32 off too).
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False


def decode(enc):
    dtype = DTYPES[enc["dtype"]]
    raw = base64.b64decode(enc["b64"])
    shape = enc["shape"]
    if len(raw) == 0:
        return torch.empty(shape, dtype=dtype, device=DEVICE)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone().to(DEVICE)


def encode(t):
    t = t.detach()
    values = t.to(torch.float64).cpu().contiguous().numpy().tobytes()
    return {"dtype": NAMES[t.dtype], "shape": list(t.shape), "b64": base64.b64encode(values).decode("ascii")}


def sign_fix(columns_of):
    """Signs that make the first row of a matrix of vectors non-negative (eigenvectors, singular
    vectors are defined up to sign); the same rule runs in the TypeScript test."""
    return torch.sign(columns_of[..., 0:1, :]).detach()


def in_place(method):
    """An in-place op applied to a copy of the first input; the copy is the output."""

    def run(x, p):
        s = x[0].clone()
        method(s, x[1:], p)
        return s

    return run


def attention(q, k, v, mask):
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def slice_along(t, dim, start, end, step):
    index = [slice(None)] * t.dim()
    index[dim] = slice(start, end, step)
    return t[tuple(index)]


def adam_step(s, x, p):
    """One Adam update of parameter s (x = [grad, m, v]) written with in-place ops as an optimizer would."""
    grad, m, v = x[0], x[1].clone(), x[2].clone()
    b1, b2, lr, eps, t = p["beta1"], p["beta2"], p["lr"], p["eps"], p["step"]
    m.lerp_(grad, 1 - b1)
    v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    denom = (v / (1 - b2**t)).sqrt().add_(eps)
    s.addcdiv_(m, denom, value=-lr / (1 - b1**t))


def batch_norm(x, p):
    """F.batch_norm on x[0] with weight x[1], bias x[2] and running stats x[3], x[4] (updated in
    training mode, so copies are returned after the output)."""
    mean, var = x[3].clone(), x[4].clone()
    out = F.batch_norm(x[0], mean, var, x[1], x[2], training=p["training"], momentum=p["momentum"], eps=p["eps"])
    return [out, mean, var]


def dt(p, key="dtype"):
    return DTYPES[p[key]]


UNARY = {
    "neg": torch.neg, "abs": torch.abs, "exp": torch.exp, "expm1": torch.expm1, "log": torch.log,
    "log1p": torch.log1p, "log2": torch.log2, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
    "square": torch.square, "reciprocal": torch.reciprocal, "sin": torch.sin, "cos": torch.cos,
    "tanh": torch.tanh, "erf": torch.erf, "erfinv": torch.erfinv, "floor": torch.floor,
    "ceil": torch.ceil, "round": torch.round, "sign": torch.sign, "relu": F.relu, "silu": F.silu,
    "sigmoid": torch.sigmoid, "softplus": F.softplus, "logicalNot": torch.logical_not,
    "isnan": torch.isnan, "isfinite": torch.isfinite, "clone": torch.clone, "detach": torch.Tensor.detach,
    "sumAll": torch.sum, "meanAll": torch.mean, "maxAll": torch.max, "minAll": torch.min, "trace": torch.trace,
}
BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "atan2": torch.atan2, "eq": torch.eq,
    "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge,
    "logicalAnd": torch.logical_and, "logicalOr": torch.logical_or, "matmul": torch.matmul,
    "mm": torch.mm, "bmm": torch.bmm, "cdist": torch.cdist, "outer": torch.outer,
    "mseLoss": F.mse_loss, "crossEntropy": F.cross_entropy,
}
WITH_SCALAR = {
    "addScalar": lambda t, s: t + s, "subScalar": lambda t, s: t - s, "rsubScalar": lambda t, s: s - t,
    "mulScalar": lambda t, s: t * s, "divScalar": lambda t, s: t / s, "rdivScalar": lambda t, s: s / t,
    "powScalar": lambda t, s: t**s, "rpowScalar": lambda t, s: torch.pow(s, t),
    "eqScalar": lambda t, s: t == s, "neScalar": lambda t, s: t != s, "ltScalar": lambda t, s: t < s,
    "leScalar": lambda t, s: t <= s, "gtScalar": lambda t, s: t > s, "geScalar": lambda t, s: t >= s,
    "fullLike": torch.full_like, "leakyRelu": F.leaky_relu,
}

OPS = {
    # creation
    "zeros": lambda x, p: torch.zeros(p["size"], dtype=dt(p)),
    "ones": lambda x, p: torch.ones(p["size"], dtype=dt(p)),
    "full": lambda x, p: torch.full(p["size"], p["value"], dtype=dt(p)),
    "empty": lambda x, p: torch.empty(p["size"], dtype=dt(p)),
    "scalar": lambda x, p: torch.tensor(p["value"], dtype=dt(p)),
    "arange": lambda x, p: torch.arange(p["start"], p["end"], p["step"], dtype=dt(p)),
    "linspace": lambda x, p: torch.linspace(p["start"], p["end"], p["steps"], dtype=dt(p)),
    "eye": lambda x, p: torch.eye(p["n"], dtype=dt(p)),
    "zerosLike": lambda x, p: torch.zeros_like(x[0]),
    "onesLike": lambda x, p: torch.ones_like(x[0]),
    "tensorFromList": lambda x, p: torch.tensor(p["values"], dtype=dt(p)).reshape(p["shape"]),
    # conversion
    "to": lambda x, p: x[0].to(dt(p)),
    "toDtype": lambda x, p: x[0].to(dt(p)),
    "toDevice": lambda x, p: x[0].to("cpu"),
    "contiguous": lambda x, p: x[0].transpose(0, 1).contiguous(),
    "item": lambda x, p: x[0].item(),
    # elementwise
    "clamp": lambda x, p: torch.clamp(x[0], min=p.get("min"), max=p.get("max")),
    "where": lambda x, p: torch.where(x[0], x[1], x[2]),
    "lerp": lambda x, p: torch.lerp(x[0], x[1], p["weight"]),
    "maskedFill": lambda x, p: x[0].masked_fill(x[1], p["value"]),
    "allClose": lambda x, p: torch.allclose(x[0], x[1], rtol=p["rtol"], atol=p["atol"]),
    # reductions
    "sum": lambda x, p: torch.sum(x[0], p["dims"], keepdim=p["keepdim"]),
    "mean": lambda x, p: torch.mean(x[0], p["dims"], keepdim=p["keepdim"]),
    "amax": lambda x, p: torch.amax(x[0], p["dims"], keepdim=p["keepdim"]),
    "amin": lambda x, p: torch.amin(x[0], p["dims"], keepdim=p["keepdim"]),
    "argmax": lambda x, p: torch.argmax(x[0], p["dim"], keepdim=p["keepdim"]),
    "argmin": lambda x, p: torch.argmin(x[0], p["dim"], keepdim=p["keepdim"]),
    "var": lambda x, p: torch.var(x[0], p.get("dims"), unbiased=p.get("unbiased", True), keepdim=p.get("keepdim", False)),
    "std": lambda x, p: torch.std(x[0], p.get("dims"), unbiased=p.get("unbiased", True), keepdim=p.get("keepdim", False)),
    "prod": lambda x, p: torch.prod(x[0], p["dim"], keepdim=p["keepdim"]),
    "logsumexp": lambda x, p: torch.logsumexp(x[0], p["dims"], keepdim=p["keepdim"]),
    "cumsum": lambda x, p: torch.cumsum(x[0], p["dim"]),
    "norm": lambda x, p: torch.norm(x[0], p=p["p"], dim=p.get("dims"), keepdim=p.get("keepdim", False)),
    "anyAll": lambda x, p: bool(x[0].any()),
    "allAll": lambda x, p: bool(x[0].all()),
    "topk": lambda x, p: list(torch.topk(x[0], p["k"], p["dim"], largest=p["largest"], sorted=True)),
    "sort": lambda x, p: list(torch.sort(x[0], p["dim"], descending=p["descending"])),
    "kthvalue": lambda x, p: list(torch.kthvalue(x[0], p["k"], p["dim"], keepdim=p["keepdim"])),
    # linear algebra
    "einsum": lambda x, p: torch.einsum(p["equation"], *x),
    "linalgEigh": lambda x, p: (lambda l, v: [l, v * sign_fix(v)])(*torch.linalg.eigh(x[0])),
    "linalgSvd": lambda x, p: (lambda u, s, vh: [u * sign_fix(u), s, vh * sign_fix(u).transpose(-2, -1)])(
        *torch.linalg.svd(x[0], full_matrices=False)),
    # shape
    "reshape": lambda x, p: x[0].reshape(p["shape"]),
    "view": lambda x, p: x[0].view(p["shape"]),
    "permute": lambda x, p: x[0].permute(p["dims"]),
    "transpose": lambda x, p: x[0].transpose(p["dim0"], p["dim1"]),
    "T": lambda x, p: x[0].transpose(-2, -1),
    "squeeze": lambda x, p: x[0].squeeze(p["dim"]),
    "unsqueeze": lambda x, p: x[0].unsqueeze(p["dim"]),
    "flatten": lambda x, p: x[0].flatten(p["start"], p["end"]),
    "cat": lambda x, p: torch.cat(x, p["dim"]),
    "stack": lambda x, p: torch.stack(x, p["dim"]),
    "chunk": lambda x, p: list(torch.chunk(x[0], p["chunks"], p["dim"])),
    "split": lambda x, p: list(torch.split(x[0], p["splitSize"], p["dim"])),
    "slice": lambda x, p: slice_along(x[0], p["dim"], p["start"], p.get("end"), p["step"]),
    "select": lambda x, p: x[0].select(p["dim"], p["index"]),
    "indexSelect": lambda x, p: torch.index_select(x[0], p["dim"], x[1]),
    "gather": lambda x, p: torch.gather(x[0], p["dim"], x[1]),
    "scatterAdd": lambda x, p: torch.scatter_add(x[0], p["dim"], x[1], x[2]),
    "expand": lambda x, p: x[0].expand(p["size"]),
    "repeat": lambda x, p: x[0].repeat(p["repeats"]),
    "repeatInterleave": lambda x, p: torch.repeat_interleave(x[0], p["repeats"], p["dim"]),
    "flip": lambda x, p: torch.flip(x[0], p["dims"]),
    "roll": lambda x, p: torch.roll(x[0], p["shifts"], p["dims"]),
    "pad": lambda x, p: F.pad(x[0], p["pad"], mode=p["mode"], **({"value": p["value"]} if p["mode"] == "constant" else {})),
    "tril": lambda x, p: torch.tril(x[0], p["diagonal"]),
    "triu": lambda x, p: torch.triu(x[0], p["diagonal"]),
    # in place, on a copy of the first input
    "copy_": in_place(lambda s, x, p: s.copy_(x[0])),
    "zero_": in_place(lambda s, x, p: s.zero_()),
    "fill_": in_place(lambda s, x, p: s.fill_(p["value"])),
    "add_": in_place(lambda s, x, p: s.add_(x[0], alpha=p["alpha"])),
    "addScalar_": in_place(lambda s, x, p: s.add_(p["value"])),
    "sub_": in_place(lambda s, x, p: s.sub_(x[0])),
    "mul_": in_place(lambda s, x, p: s.mul_(x[0])),
    "mulScalar_": in_place(lambda s, x, p: s.mul_(p["value"])),
    "div_": in_place(lambda s, x, p: s.div_(x[0])),
    "divScalar_": in_place(lambda s, x, p: s.div_(p["value"])),
    "addcmul_": in_place(lambda s, x, p: s.addcmul_(x[0], x[1], value=p["value"])),
    "addcdiv_": in_place(lambda s, x, p: s.addcdiv_(x[0], x[1], value=p["value"])),
    "lerp_": in_place(lambda s, x, p: s.lerp_(x[0], p["weight"])),
    "sqrt_": in_place(lambda s, x, p: s.sqrt_()),
    "clamp_": in_place(lambda s, x, p: s.clamp_(min=p.get("min"), max=p.get("max"))),
    "indexCopy_": in_place(lambda s, x, p: s.index_copy_(p["dim"], x[0], x[1])),
    "adam": in_place(adam_step),
    # neural-network functions
    "conv2d": lambda x, p: F.conv2d(x[0], x[1], x[2] if len(x) > 2 else None, p["stride"], p["padding"], p["dilation"], p["groups"]),
    "convTranspose2d": lambda x, p: F.conv_transpose2d(
        x[0], x[1], x[2] if len(x) > 2 else None, p["stride"], p["padding"], p["outputPadding"], p["groups"], p["dilation"]),
    "linear": lambda x, p: F.linear(x[0], x[1], x[2] if len(x) > 2 else None),
    "groupNorm": lambda x, p: F.group_norm(x[0], p["groups"], x[1] if len(x) > 1 else None, x[2] if len(x) > 2 else None, p["eps"]),
    "layerNorm": lambda x, p: F.layer_norm(x[0], p["shape"], x[1] if len(x) > 1 else None, x[2] if len(x) > 2 else None, p["eps"]),
    "gelu": lambda x, p: F.gelu(x[0], approximate=p["approximate"]),
    "softmax": lambda x, p: F.softmax(x[0], p["dim"]),
    "logSoftmax": lambda x, p: F.log_softmax(x[0], p["dim"]),
    "avgPool2d": lambda x, p: F.avg_pool2d(x[0], p["kernel"], p["stride"], p["padding"]),
    "maxPool2d": lambda x, p: F.max_pool2d(x[0], p["kernel"], p["stride"], p["padding"]),
    "avgPool2dFull": lambda x, p: F.avg_pool2d(
        x[0], p["kernel"], p["stride"], p["padding"], ceil_mode=p["ceilMode"], count_include_pad=p["countIncludePad"]),
    "batchNorm": batch_norm,
    "adaptiveAvgPool2d": lambda x, p: F.adaptive_avg_pool2d(x[0], p["size"]),
    "interpolate": lambda x, p: F.interpolate(
        x[0], size=p["size"], mode=p["mode"], **({"align_corners": p["alignCorners"]} if p["mode"] == "bilinear" else {})),
    "attention": lambda x, p: attention(x[0], x[1], x[2], x[3] if len(x) > 3 else None),
    "embedding": lambda x, p: F.embedding(x[1], x[0]),
}
for name, fn in UNARY.items():
    OPS[name] = (lambda f: lambda x, p: f(x[0]))(fn)
for name, fn in BINARY.items():
    OPS[name] = (lambda f: lambda x, p: f(x[0], x[1]))(fn)
for name, fn in WITH_SCALAR.items():
    OPS[name] = (lambda f: lambda x, p: f(x[0], p["scalar"]))(fn)


def as_list(out):
    return out if isinstance(out, list) else [out]


def run_case(case):
    op = OPS[case["op"]]
    params = case.get("params", {})
    encoded = case["inputs"]

    # Pass 1: the inputs' own dtypes, no gradients: the output dtypes and shapes.
    with torch.no_grad():
        native_out = as_list(op([decode(e) for e in encoded], params))

    # Pass 2: values and gradients, in float64 unless the case keeps the dtypes.
    inputs = []
    for e in encoded:
        t = decode(e)
        if case.get("precision", "float64") == "float64" and t.is_floating_point():
            t = t.to(torch.float64)
        if e.get("grad"):
            t.requires_grad_(True)
        inputs.append(t)
    out = as_list(op(inputs, params))

    loss = None
    for o, up in zip(out, case.get("upstream") or []):
        if up is None or not isinstance(o, torch.Tensor) or not o.requires_grad:
            continue
        term = (o * decode(up).to(o.dtype)).sum()
        loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()

    outputs = []
    for native_o, o in zip(native_out, out):
        if isinstance(o, torch.Tensor):
            enc = encode(o)
            enc["dtype"] = NAMES[native_o.dtype]
            outputs.append(enc)
        else:
            outputs.append({"scalar": o})
    grads = [encode(t.grad) if isinstance(t, torch.Tensor) and t.grad is not None else None for t in inputs]
    return {"id": case["id"], "outputs": outputs, "grads": grads}


def main():
    torch.set_num_threads(1)
    cases = json.load(sys.stdin)
    results = []
    for case in cases:
        try:
            results.append(run_case(case))
        except Exception as e:  # reported per case; the TypeScript test fails that case
            results.append({"id": case.get("id"), "error": f"{type(e).__name__}: {e}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()

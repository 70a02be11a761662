"""NumPy/SciPy references for the sample-quality metrics (test/metrics-scores.test.ts, test/metrics-eval.test.ts).

stdin: JSON {"arrays": {name: {"path": raw little-endian float64 file, "shape": [...]}}, "tasks": [...]}
stdout: JSON {task name: result}

Tasks (each {"name", "kind", ...}):
  stats      {"x"}                   -> {"mu": [...], "sigma": [...]}  numpy mean and cov (ddof=1)
  frechet    {"mu1","sigma1","mu2","sigma2"} -> float, the usual formula with scipy.linalg.sqrtm(S1 S2)
  is         {"logits", "splits"}    -> {"mean", "std", "splits"}  softmax, KL to the split's marginal
  pr         {"real", "fake", "k"}   -> {"precision", "recall"}    k-NN manifolds, radius = k-th neighbour (self = 0-th)
  mmd        {"x", "y"}              -> float, unbiased MMD^2 with kernel (x.y/d + 1)^3
  fid_eigh   {"x", "y"}              -> float, Frechet distance of the features' numpy mean/cov, with
                                        the trace term from numpy.linalg.eigh (fast at D = 2048)
  npz_u8     {"path", "raw", "shape"} -> writes path with arr_0 = the raw uint8 file in that shape
  npz        {"path", "dim"}         -> writes path with mu = 0.5 arange(dim) (float64) and
                                        sigma = I + 0.25 (1 a^T + a 1^T) with a = arange(dim) (float32)
"""
import json
import sys

import numpy as np
from scipy import linalg


def load(spec):
    return np.fromfile(spec["path"], dtype="<f8").reshape(spec["shape"])


def frechet(mu1, sigma1, mu2, sigma2):
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_eigh(x, y):
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root @ s2 @ root
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * tr)


def inception_score(logits, splits):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = len(p)
    scores = []
    for k in range(splits):
        part = p[k * n // splits:(k + 1) * n // splits]
        py = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part) - np.log(py))).sum(axis=1).mean()
        scores.append(float(np.exp(kl)))
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "splits": scores}


def sqdist(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def precision_recall(real, fake, k):
    def radii(x):
        d = sqdist(x, x)
        return np.sqrt(np.sort(d, axis=1)[:, k])

    r_real = radii(real)
    r_fake = radii(fake)
    d = np.sqrt(sqdist(real, fake))  # [n_real, n_fake]
    precision = (d <= r_real[:, None]).any(axis=0).mean()
    recall = (d <= r_fake[None, :]).any(axis=1).mean()
    return {"precision": float(precision), "recall": float(recall)}


def mmd(x, y):
    d = x.shape[1]
    m, n = len(x), len(y)
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.sum() / (m * n)
    )


def main():
    req = json.load(sys.stdin)
    arrays = {k: load(v) for k, v in req["arrays"].items()}
    out = {}
    for t in req["tasks"]:
        kind = t["kind"]
        if kind == "stats":
            x = arrays[t["x"]]
            out[t["name"]] = {"mu": x.mean(axis=0).tolist(), "sigma": np.cov(x, rowvar=False).reshape(-1).tolist()}
        elif kind == "frechet":
            out[t["name"]] = frechet(arrays[t["mu1"]], arrays[t["sigma1"]], arrays[t["mu2"]], arrays[t["sigma2"]])
        elif kind == "is":
            out[t["name"]] = inception_score(arrays[t["logits"]], t["splits"])
        elif kind == "pr":
            out[t["name"]] = precision_recall(arrays[t["real"]], arrays[t["fake"]], t["k"])
        elif kind == "mmd":
            out[t["name"]] = mmd(arrays[t["x"]], arrays[t["y"]])
        elif kind == "fid_eigh":
            out[t["name"]] = fid_eigh(arrays[t["x"]], arrays[t["y"]])
        elif kind == "npz_u8":
            np.savez(t["path"], arr_0=np.fromfile(t["raw"], dtype=np.uint8).reshape(t["shape"]))
            out[t["name"]] = None
        elif kind == "npz":
            d = t["dim"]
            a = np.arange(d, dtype=np.float64)
            sigma = np.eye(d) + 0.25 * (np.outer(np.ones(d), a) + np.outer(a, np.ones(d)))
            np.savez(t["path"], mu=0.5 * a, sigma=sigma.astype(np.float32))
            out[t["name"]] = None
        else:
            raise SystemExit("unknown task kind " + kind)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

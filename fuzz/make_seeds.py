"""Writes the small valid files that the fuzz targets mutate (fuzz/targets.ts), with Python's own
torch and numpy, so the seeds are what those libraries really write.

usage: make_seeds.py OUT_DIR   (the committed seeds live in test/fuzz-corpus/seeds/)
"""
import collections
import os
import sys

import numpy as np
import torch


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state = collections.OrderedDict()
    state['w'] = base
    state['w_t'] = base.t()  # a strided view of the same storage
    state['b'] = torch.tensor([1, -2], dtype=torch.int64)
    state['h'] = torch.tensor([0.5, 1.5], dtype=torch.float16)
    torch.save(state, os.path.join(out, 'state_zip.pt'))
    torch.save(state, os.path.join(out, 'state_legacy.pt'), _use_new_zipfile_serialization=False)
    data = (np.arange(2 * 48) % 251).astype(np.uint8).reshape(2, 48)  # two 4x4 RGB images
    np.savez(os.path.join(out, 'train_data_batch_1.npz'), data=data, labels=np.array([1, 1000]))
    np.savez_compressed(os.path.join(out, 'deflated.npz'), data=data, labels=np.array([3, 7], dtype=np.int32))


if __name__ == '__main__':
    main()

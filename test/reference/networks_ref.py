#!/usr/bin/env python3
"""Reference U-Nets for test/networks.test.ts and bench/networks.ts, written in plain PyTorch.

Two architectures, as described by their papers and re-implemented in EDM (Karras et al. 2022),
with the same tensor names and layouts as EDM's state dicts so that one safetensors file of
weights fits both this script and the TypeScript networks:

  song   NCSN++ / DDPM++ (Song et al. 2021, "Score-based generative modeling through SDEs"):
         Fourier or positional noise embedding, BigGAN-style residual blocks that resample with
         an FIR filter, single-head attention, skip connections scaled by 1/sqrt(2), an optional
         'residual' or 'skip' encoder path and a 'skip' or 'standard' decoder.
  adm    ADM (Dhariwal & Nichol 2021): positional embedding, scale-shift group norm, multi-head
         attention with a fixed number of channels per head, optional class embedding.

The configuration is the same JSON object the TypeScript side uses (camelCase keys, see
src/networks/config.ts). Commands (all read and write safetensors files):

  count  CONFIG_JSON                  print {"parameters": N, "buffers": M} (no forward pass);
                                     given a JSON array of configs, prints an array
  run    CONFIG_JSON WEIGHTS INPUTS OUT
         INPUTS holds x, noise_labels, optional class_labels (one-hot float) and upstream.
         OUT gets out_train (train mode), out_eval (eval mode) and grad.<name> for every
         parameter: the gradient of sum(out_train * upstream).
  bench  CONFIG_JSON BATCH STEPS THREADS
         times a training step (forward, backward of a consistency-style loss, Adam update) and
         prints {"median_ms": ..., "times_ms": [...], "maxrss_kb": ...}.

Requires torch; reads safetensors with the `safetensors` package when importable, otherwise with
a small reader of the format (8-byte header length, JSON header, raw little-endian bytes).
"""
import json
import os
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as tf

# ---------------------------------------------------------------------------------------------
# safetensors I/O (the package when present, else a direct reader/writer of the format)

_DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'I32': torch.int32, 'F16': torch.float16,
           'BF16': torch.bfloat16, 'U8': torch.uint8, 'BOOL': torch.bool}
_NAMES = {v: k for k, v in _DTYPES.items()}


def load_tensors(path):
    try:
        from safetensors.torch import load_file
        return load_file(path)
    except ImportError:
        pass
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n].decode('utf-8'))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        b, en = e['data_offsets']
        dt = _DTYPES[e['dtype']]
        buf = bytearray(data[base + b: base + en])
        t = torch.frombuffer(buf, dtype=dt) if en > b else torch.empty(0, dtype=dt)
        out[name] = t.reshape(e['shape']).clone()
    return out


def save_tensors(tensors, path):
    try:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in tensors.items()}, path)
        return
    except ImportError:
        pass
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[name] = {'dtype': _NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


# ---------------------------------------------------------------------------------------------
# Layers. Initial values only matter for `bench` (tests load weights from the TypeScript side).

def init_uniform(shape, bound):
    return (torch.rand(*shape) * 2 - 1) * bound


def make_weight(shape, mode, fan_in, fan_out, gain):
    if mode == 'xavier_uniform':
        return init_uniform(shape, math.sqrt(6 / (fan_in + fan_out))) * gain
    if mode == 'kaiming_uniform':
        return init_uniform(shape, math.sqrt(3 / fan_in)) * gain
    if mode == 'kaiming_normal':
        return torch.randn(*shape) * math.sqrt(1 / fan_in) * gain
    raise ValueError(mode)


class Dense(torch.nn.Module):
    """y = x W^T + b with EDM-style initialization (mode, weight gain, bias gain)."""

    def __init__(self, fin, fout, bias=True, mode='xavier_uniform', gain=1.0, bias_gain=0.0):
        super().__init__()
        self.in_features = fin
        self.weight = torch.nn.Parameter(make_weight([fout, fin], mode, fin, fout, gain))
        self.bias = torch.nn.Parameter(make_weight([fout], mode, fin, fout, bias_gain)) if bias else None

    def forward(self, x):
        return tf.linear(x, self.weight, self.bias)


def fir_kernel(taps):
    f = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return (f / f.sum()).reshape(1, 1, len(taps), len(taps))


# How non-fused 2x upsampling is computed: 'transposed' (a grouped transposed convolution, as
# EDM writes it; what the tests compare against) or 'polyphase' (the same values from shifted,
# weighted copies, as src/nn/resample-conv2d.ts computes them; bench/networks_ref.py uses it so
# both sides of the benchmark run the same ops).
UPSAMPLE = 'transposed'


def polyphase_up(x, taps, padding):
    gains = [2 * t / sum(taps) for t in taps]
    for d in (2, 3):
        n = x.shape[d]
        phases = [[(gains[j], (r + padding - j) // 2) for j in range(len(taps)) if (j - r - padding) % 2 == 0] for r in (0, 1)]
        offsets = [o for ph in phases for _, o in ph]
        lo, hi = max(0, -min(offsets)), max(0, max(offsets))
        xp = tf.pad(x, [lo, hi] if d == 3 else [0, 0, lo, hi])
        ys = [sum(xp.narrow(d, lo + o, n) * g for g, o in ph) for ph in phases]
        shape = list(x.shape)
        shape[d] *= 2
        x = torch.stack(ys, d + 1).reshape(shape)
    return x


class ResampleConv(torch.nn.Module):
    """A k x k convolution (k = 0: none) with optional 2x FIR up- or downsampling around it.

    Upsampling is a stride-2 transposed depthwise convolution with 4 * filter, downsampling a
    stride-2 depthwise convolution with the filter. 'fused' (used for the NCSN++ residual
    encoder path) pads the convolution by the filter's half width and filters afterwards.
    """

    def __init__(self, cin, cout, k, bias=True, up=False, down=False, taps=(1, 1), fused=False,
                 mode='xavier_uniform', gain=1.0, bias_gain=0.0):
        super().__init__()
        self.cin, self.cout, self.up, self.down, self.fused = cin, cout, up, down, fused
        self.taps = list(taps)
        fi, fo = cin * k * k, cout * k * k
        self.weight = torch.nn.Parameter(make_weight([cout, cin, k, k], mode, fi, fo, gain)) if k else None
        self.bias = torch.nn.Parameter(make_weight([cout], mode, fi, fo, bias_gain)) if k and bias else None
        if up or down:
            self.register_buffer('resample_filter', fir_kernel(list(taps)))
        else:
            self.resample_filter = None

    def forward(self, x):
        w, b, f = self.weight, self.bias, self.resample_filter
        wp = w.shape[-1] // 2 if w is not None else 0
        fp = (f.shape[-1] - 1) // 2 if f is not None else 0
        if self.fused and self.up and w is not None:
            x = tf.conv_transpose2d(x, (f * 4).repeat(self.cin, 1, 1, 1), groups=self.cin, stride=2, padding=wp + fp)
            x = tf.conv2d(x, w)
        elif self.fused and self.down and w is not None:
            x = tf.conv2d(x, w, padding=wp + fp)
            x = tf.conv2d(x, f.repeat(self.cout, 1, 1, 1), groups=self.cout, stride=2)
        else:
            if self.up and UPSAMPLE == 'polyphase':
                x = polyphase_up(x, self.taps, fp)
            elif self.up:
                x = tf.conv_transpose2d(x, (f * 4).repeat(self.cin, 1, 1, 1), groups=self.cin, stride=2, padding=fp)
            if self.down:
                x = tf.conv2d(x, f.repeat(self.cin, 1, 1, 1), groups=self.cin, stride=2, padding=fp)
            if w is not None:
                x = tf.conv2d(x, w, padding=wp)
        if b is not None:
            x = x + b.reshape(1, -1, 1, 1)
        return x


class Norm(torch.nn.Module):
    """Group norm with min(32, C // 4) groups."""

    def __init__(self, c, eps=1e-5):
        super().__init__()
        self.groups = min(32, c // 4)
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(c))
        self.bias = torch.nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return tf.group_norm(x, self.groups, self.weight, self.bias, self.eps)


class Block(torch.nn.Module):
    """Residual block: norm, SiLU, conv (resampling), noise-embedding modulation, norm, SiLU,
    dropout, conv; plus the (projected, resampled) input; then optional self-attention."""

    def __init__(self, cin, cout, emb, *, up=False, down=False, heads=0, dropout=0.0, skip_scale=1.0, eps=1e-5,
                 taps=(1, 1), resample_proj=False, scale_shift=True, init=None, init_zero=None, init_attn=None):
        super().__init__()
        self.in_channels, self.out_channels = cin, cout
        self.heads, self.dropout, self.skip_scale, self.scale_shift = heads, dropout, skip_scale, scale_shift
        self.norm0 = Norm(cin, eps)
        self.conv0 = ResampleConv(cin, cout, 3, up=up, down=down, taps=taps, **init)
        self.affine = Dense(emb, cout * 2 if scale_shift else cout, **init)
        self.norm1 = Norm(cout, eps)
        self.conv1 = ResampleConv(cout, cout, 3, **init_zero)
        self.skip = None
        if cout != cin or up or down:
            k = 1 if (resample_proj or cout != cin) else 0
            self.skip = ResampleConv(cin, cout, k, up=up, down=down, taps=taps, **init)
        if heads:
            self.norm2 = Norm(cout, eps)
            self.qkv = ResampleConv(cout, cout * 3, 1, **(init_attn or init))
            self.proj = ResampleConv(cout, cout, 1, **init_zero)

    def forward(self, x, emb):
        h = self.conv0(tf.silu(self.norm0(x)))
        p = self.affine(emb)[:, :, None, None]
        if self.scale_shift:
            scale, shift = p.chunk(2, dim=1)
            h = tf.silu(shift + self.norm1(h) * (scale + 1))
        else:
            h = tf.silu(self.norm1(h + p))
        h = self.conv1(tf.dropout(h, p=self.dropout, training=self.training))
        h = (h + (self.skip(x) if self.skip is not None else x)) * self.skip_scale
        if self.heads:
            n, c, hh, ww = h.shape
            # qkv channels are laid out as (head, channel within head, q/k/v).
            qkv = self.qkv(self.norm2(h)).reshape(n * self.heads, c // self.heads, 3, hh * ww)
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
            d = q.shape[1]
            logits = torch.bmm(q.transpose(1, 2), k) / math.sqrt(d)  # [n*heads, queries, keys]
            att = logits.softmax(dim=2)
            a = torch.bmm(v, att.transpose(1, 2))  # [n*heads, d, queries]
            h = (self.proj(a.reshape(n, c, hh, ww)) + h) * self.skip_scale
        return h


class Positional(torch.nn.Module):
    def __init__(self, c, max_positions=10000, endpoint=False):
        super().__init__()
        self.c, self.max_positions, self.endpoint = c, max_positions, endpoint

    def forward(self, t):
        half = self.c // 2
        e = torch.arange(half, dtype=torch.float32) / (half - (1 if self.endpoint else 0))
        freqs = (1.0 / self.max_positions) ** e
        a = t[:, None] * freqs[None, :]
        return torch.cat([a.cos(), a.sin()], dim=1)


class Fourier(torch.nn.Module):
    def __init__(self, c, scale):
        super().__init__()
        self.register_buffer('freqs', torch.randn(c // 2) * scale)

    def forward(self, t):
        a = t[:, None] * (2 * math.pi * self.freqs)[None, :]
        return torch.cat([a.cos(), a.sin()], dim=1)


def block_dropout(cfg, res):
    """Dropout probability of a block whose output has resolution `res`."""
    limit = cfg.get('dropoutMaxResolution')
    return cfg['dropout'] if (limit is None or res <= limit) else 0.0


class SongNet(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        R, mc = cfg['imgResolution'], cfg['modelChannels']
        mult, nb, attn = cfg['channelMult'], cfg['numBlocks'], cfg['attnResolutions']
        emb_c = mc * cfg['channelMultEmb']
        noise_c = mc * cfg['channelMultNoise']
        taps = cfg['resampleFilter']
        self.encoder_type, self.decoder_type = cfg['encoderType'], cfg['decoderType']
        init = dict(mode='xavier_uniform')
        init_zero = dict(mode='xavier_uniform', gain=1e-5)
        init_attn = dict(mode='xavier_uniform', gain=math.sqrt(0.2))

        def blk(cin, cout, res, **kw):
            return Block(cin, cout, emb_c, dropout=block_dropout(cfg, res), skip_scale=math.sqrt(0.5), eps=1e-6, taps=taps,
                         resample_proj=True, scale_shift=False, init=init, init_zero=init_zero, init_attn=init_attn, **kw)

        if cfg['embeddingType'] == 'fourier':
            self.map_noise = Fourier(noise_c, cfg['fourierScale'])
        else:
            self.map_noise = Positional(noise_c, endpoint=True)
        self.map_label = Dense(cfg['labelDim'], noise_c, **init) if cfg['labelDim'] else None
        self.map_layer0 = Dense(noise_c, emb_c, **init)
        self.map_layer1 = Dense(emb_c, emb_c, **init)

        self.enc = torch.nn.ModuleDict()
        cout = caux = cfg['inChannels']
        skips = []
        for level, m in enumerate(mult):
            res = R >> level
            if level == 0:
                self.enc[f'{res}x{res}_conv'] = ResampleConv(cout, mc, 3, **init)
                cout = mc
                skips.append(cout)
            else:
                self.enc[f'{res}x{res}_down'] = blk(cout, cout, res, down=True)
                skips.append(cout)
                if self.encoder_type == 'skip':
                    self.enc[f'{res}x{res}_aux_down'] = ResampleConv(caux, caux, 0, down=True, taps=taps)
                    self.enc[f'{res}x{res}_aux_skip'] = ResampleConv(caux, cout, 1, **init)
                if self.encoder_type == 'residual':
                    self.enc[f'{res}x{res}_aux_residual'] = ResampleConv(caux, cout, 3, down=True, taps=taps, fused=True, **init)
                    caux = cout
            for i in range(nb):
                cin, cout = cout, mc * m
                self.enc[f'{res}x{res}_block{i}'] = blk(cin, cout, res, heads=1 if res in attn else 0)
                skips.append(cout)

        self.dec = torch.nn.ModuleDict()
        out_c = cfg['outChannels']
        for level in reversed(range(len(mult))):
            m = mult[level]
            res = R >> level
            if level == len(mult) - 1:
                self.dec[f'{res}x{res}_in0'] = blk(cout, cout, res, heads=1)
                self.dec[f'{res}x{res}_in1'] = blk(cout, cout, res)
            else:
                self.dec[f'{res}x{res}_up'] = blk(cout, cout, res, up=True)
            for i in range(nb + 1):
                cin, cout = cout + skips.pop(), mc * m
                self.dec[f'{res}x{res}_block{i}'] = blk(cin, cout, res, heads=1 if (i == nb and res in attn) else 0)
            if self.decoder_type == 'skip' or level == 0:
                if self.decoder_type == 'skip' and level < len(mult) - 1:
                    self.dec[f'{res}x{res}_aux_up'] = ResampleConv(out_c, out_c, 0, up=True, taps=taps)
                self.dec[f'{res}x{res}_aux_norm'] = Norm(cout, 1e-6)
                self.dec[f'{res}x{res}_aux_conv'] = ResampleConv(cout, out_c, 3, **init_zero)

    def forward(self, x, noise, labels=None):
        e = self.map_noise(noise)
        n = e.shape[0]
        e = e.reshape(n, 2, -1).flip(1).reshape(n, -1)  # [sin, cos]
        if self.map_label is not None:
            e = e + self.map_label(labels * math.sqrt(self.map_label.in_features))
        e = tf.silu(self.map_layer0(e))
        e = tf.silu(self.map_layer1(e))

        skips, aux = [], x
        for name, b in self.enc.items():
            if name.endswith('aux_down'):
                aux = b(aux)
            elif name.endswith('aux_skip'):
                x = x + b(aux)
                skips[-1] = x
            elif name.endswith('aux_residual'):
                x = (x + b(aux)) / math.sqrt(2)
                skips[-1] = aux = x
            else:
                x = b(x, e) if isinstance(b, Block) else b(x)
                skips.append(x)

        aux, tmp = None, None
        for name, b in self.dec.items():
            if name.endswith('aux_up'):
                aux = b(aux)
            elif name.endswith('aux_norm'):
                tmp = b(x)
            elif name.endswith('aux_conv'):
                tmp = b(tf.silu(tmp))
                aux = tmp if aux is None else tmp + aux
            else:
                if x.shape[1] != b.in_channels:
                    x = torch.cat([x, skips.pop()], dim=1)
                x = b(x, e)
        return aux


class AdmNet(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        R, mc = cfg['imgResolution'], cfg['modelChannels']
        mult, nb, attn = cfg['channelMult'], cfg['numBlocks'], cfg['attnResolutions']
        emb_c = mc * cfg['channelMultEmb']
        cph = cfg['channelsPerHead']
        label_dim = cfg['labelDim']
        init = dict(mode='kaiming_uniform', gain=math.sqrt(1 / 3), bias_gain=math.sqrt(1 / 3))
        init_zero = dict(mode='kaiming_uniform', gain=0.0, bias_gain=0.0)

        def blk(cin, cout, res, attention=False, **kw):
            return Block(cin, cout, emb_c, heads=(cout // cph if attention else 0), dropout=block_dropout(cfg, res),
                         init=init, init_zero=init_zero, **kw)

        self.map_noise = Positional(mc, endpoint=False)
        self.map_layer0 = Dense(mc, emb_c, **init)
        self.map_layer1 = Dense(emb_c, emb_c, **init)
        self.map_label = Dense(label_dim, emb_c, bias=False, mode='kaiming_normal', gain=math.sqrt(label_dim)) if label_dim else None

        self.enc = torch.nn.ModuleDict()
        cout = cfg['inChannels']
        skips = []
        for level, m in enumerate(mult):
            res = R >> level
            if level == 0:
                self.enc[f'{res}x{res}_conv'] = ResampleConv(cout, mc * m, 3, **init)
                cout = mc * m
            else:
                self.enc[f'{res}x{res}_down'] = blk(cout, cout, res, down=True)
            skips.append(cout)
            for i in range(nb):
                cin, cout = cout, mc * m
                self.enc[f'{res}x{res}_block{i}'] = blk(cin, cout, res, attention=res in attn)
                skips.append(cout)

        self.dec = torch.nn.ModuleDict()
        for level in reversed(range(len(mult))):
            m = mult[level]
            res = R >> level
            if level == len(mult) - 1:
                self.dec[f'{res}x{res}_in0'] = blk(cout, cout, res, attention=True)
                self.dec[f'{res}x{res}_in1'] = blk(cout, cout, res)
            else:
                self.dec[f'{res}x{res}_up'] = blk(cout, cout, res, up=True)
            for i in range(nb + 1):
                cin, cout = cout + skips.pop(), mc * m
                self.dec[f'{res}x{res}_block{i}'] = blk(cin, cout, res, attention=res in attn)
        self.out_norm = Norm(cout)
        self.out_conv = ResampleConv(cout, cfg['outChannels'], 3, **init_zero)

    def forward(self, x, noise, labels=None):
        e = tf.silu(self.map_layer0(self.map_noise(noise)))
        e = self.map_layer1(e)
        if self.map_label is not None:
            e = e + self.map_label(labels)
        e = tf.silu(e)
        skips = []
        for b in self.enc.values():
            x = b(x, e) if isinstance(b, Block) else b(x)
            skips.append(x)
        for b in self.dec.values():
            if x.shape[1] != b.in_channels:
                x = torch.cat([x, skips.pop()], dim=1)
            x = b(x, e)
        return self.out_conv(tf.silu(self.out_norm(x)))


def build(cfg):
    arch = cfg['architecture']
    if arch == 'song':
        return SongNet(cfg)
    if arch == 'adm':
        return AdmNet(cfg)
    raise ValueError(f'unknown architecture {arch!r}')


# ---------------------------------------------------------------------------------------------
# Commands

def count_one(cfg):
    with torch.device('meta') if hasattr(torch.device, '__enter__') else _nullctx():
        net = build(cfg)
    out = {'parameters': sum(p.numel() for p in net.parameters()), 'buffers': sum(t.numel() for t in net.buffers())}
    del net
    return out


def cmd_count(cfg):
    print(json.dumps([count_one(c) for c in cfg] if isinstance(cfg, list) else count_one(cfg)))


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def load_strict(net, weights):
    own = net.state_dict()
    missing = sorted(set(own) - set(weights))
    extra = sorted(set(weights) - set(own))
    bad = [k for k in own if k in weights and tuple(own[k].shape) != tuple(weights[k].shape)]
    if missing or extra or bad:
        raise SystemExit(f'weights do not fit: missing {missing}, unexpected {extra}, mis-shaped {bad}')
    net.load_state_dict(weights)


def cmd_run(cfg, weights_path, inputs_path, out_path):
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(False)
    # The device of the TypeScript side's run (CONSISTENCY_TEST_DEVICE: cpu or cuda); results go back as CPU tensors.
    device = os.environ.get('CONSISTENCY_TEST_DEVICE') or 'cpu'
    # float32 on CUDA as on the CPU (the TypeScript side turns TF32 off too).
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    net = build(cfg)
    load_strict(net, load_tensors(weights_path))
    net = net.to(device)
    inp = {k: v.to(device) for k, v in load_tensors(inputs_path).items()}
    x, noise, up = inp['x'], inp['noise_labels'], inp['upstream']
    labels = inp.get('class_labels')
    net.train()
    out_train = net(x, noise, labels)
    (out_train * up).sum().backward()
    result = {'out_train': out_train.detach()}
    for name, p in net.named_parameters():
        result[f'grad.{name}'] = p.grad if p.grad is not None else torch.zeros_like(p)
    net.eval()
    with torch.no_grad():
        result['out_eval'] = net(x, noise, labels)
    save_tensors({k: v.cpu() for k, v in result.items()}, out_path)
    print(json.dumps({'ok': True, 'outputs': len(result)}))


def cmd_bench(cfg, batch, steps, threads):
    """A training step as bench/networks.ts times it: a consistency-style loss between the
    network at two noise levels (the second pass without gradients), backward, Adam."""
    import resource
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build(cfg).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    R, C = cfg['imgResolution'], cfg['inChannels']
    x = torch.randn(batch, C, R, R)
    labels = tf.one_hot(torch.randint(0, cfg['labelDim'], (batch,)), cfg['labelDim']).float() if cfg['labelDim'] else None
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        sigma = torch.exp(torch.randn(batch) * 2.0 - 1.1)
        z = torch.randn_like(x)
        student = net(x + sigma[:, None, None, None] * z, 0.25 * torch.log(sigma), labels)
        with torch.no_grad():
            teacher = net(x + 0.9 * sigma[:, None, None, None] * z, 0.25 * torch.log(0.9 * sigma), labels)
        diff = (student - teacher).flatten(1)
        loss = (torch.sqrt((diff * diff).sum(1) + 0.03 ** 2) - 0.03).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'median_ms': float(np.median(times)), 'times_ms': times,
                      'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, cfg = argv[0], json.loads(argv[1])
    if cmd == 'count':
        cmd_count(cfg)
    elif cmd == 'run':
        cmd_run(cfg, argv[2], argv[3], argv[4])
    elif cmd == 'bench':
        cmd_bench(cfg, int(argv[2]), int(argv[3]), int(argv[4]))
    else:
        raise SystemExit(f'unknown command {cmd!r}\n{__doc__}')


if __name__ == '__main__':
    main(sys.argv[1:])

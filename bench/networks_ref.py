#!/usr/bin/env python3
"""The Python torch side of bench/networks.ts: a long-lived peer that runs timed training steps
of a preset's network (the reference implementation in test/reference/networks_ref.py) on
command, one JSON command per line on stdin, one JSON answer per line on stdout.

  {"op": "hello"}                       -> torch version, thread environment, pid
  {"op": "init", "config": {...}, "weights": PATH, "data": PATH, "lr": LR, "threads": N,
   "channels_last": BOOL, "device": D, "precision": P}
                                        -> builds the network, loads the TS side's weights
                                           (strict), and its data (x, z, sigma_student,
                                           sigma_teacher, weight); with channels_last
                                           net.to(memory_format=torch.channels_last) (the inputs
                                           stay contiguous, as on the TS side); moves it and
                                           the data to device D (cpu, cuda); the training
                                           step's forward passes and loss run under
                                           torch.autocast at P (fp32, bf16, fp16), backward and
                                           Adam outside it; torch.optim.Adam(lr); answers the
                                           parameter count
  {"op": "loss0"}                       -> the loss in eval mode without an update (both sides
                                           must agree: same network, weights and loss)
  {"op": "steps", "n": K}               -> K training steps; wall and CPU ms, losses
  {"op": "sample", "n": K}              -> K one-step samples of the batch, f(80 z, 80) in eval
                                           mode under no_grad; wall ms
  {"op": "rss"}                         -> peak resident set of this process (getrusage, KiB)
  {"op": "quit"}

A training step, the same on both sides: f(x, s) = c_skip x + c_out F(c_in x, 0.25 ln s)
(docs/method.md section 1); student = f(x + s_student z, s_student) with gradients, teacher =
f(x + s_teacher z, s_teacher) without, both with the same dropout masks (the RNG state is
restored between them, docs/method.md section 4); loss = mean(weight * pseudo-Huber(student, teacher));
backward; Adam.
"""
import math
import os
import resource
import sys
import time

import torch

import peer_common

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'reference'))
import networks_ref as ref  # noqa: E402

# Upsample as the TS side does (the same values as EDM's transposed convolution; see
# networks_ref.UPSAMPLE), so both sides run the same ops.
ref.UPSAMPLE = 'polyphase'

SIGMA_MIN, SIGMA_DATA, SIGMA_MAX = 0.002, 0.5, 80.0


def f_theta(net, x_t, s):
    s4 = s.reshape(-1, 1, 1, 1)
    c_skip = SIGMA_DATA ** 2 / ((s4 - SIGMA_MIN) ** 2 + SIGMA_DATA ** 2)
    c_out = SIGMA_DATA * (s4 - SIGMA_MIN) / torch.sqrt(SIGMA_DATA ** 2 + s4 ** 2)
    c_in = 1 / torch.sqrt(s4 ** 2 + SIGMA_DATA ** 2)
    return c_skip * x_t + c_out * net(c_in * x_t, 0.25 * torch.log(s), None)


class Peer:
    def __init__(self):
        self.net = None

    def hello(self, _cmd):
        return peer_common.hello()

    def init(self, cmd):
        torch.set_num_threads(int(cmd['threads']))
        self.net = ref.build(cmd['config'])
        ref.load_strict(self.net, ref.load_tensors(cmd['weights']))
        if cmd.get('channels_last'):
            self.net = self.net.to(memory_format=torch.channels_last)
        self.device = cmd.get('device') or 'cpu'
        self.autocast_dtype = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}[cmd.get('precision') or 'fp32']
        self.net = self.net.to(self.device)
        d = {k: v.to(self.device) for k, v in ref.load_tensors(cmd['data']).items()}
        self.x, self.z = d['x'], d['z']
        self.s_student, self.s_teacher, self.weight = d['sigma_student'], d['sigma_teacher'], d['weight']
        self.c = 0.00054 * math.sqrt(self.x[0].numel())
        self.opt = torch.optim.Adam(self.net.parameters(), lr=float(cmd['lr']))
        return {'params': sum(p.numel() for p in self.net.parameters()), 'threads': torch.get_num_threads()}

    def autocast(self):
        device_type = 'cuda' if self.device.startswith('cuda') else 'cpu'
        if self.autocast_dtype is None:
            return torch.autocast(device_type, enabled=False)
        return torch.autocast(device_type, dtype=self.autocast_dtype)

    def loss(self):
        # Dropout draws from the generator of the device the network runs on.
        cuda = self.device.startswith('cuda')
        state = torch.cuda.get_rng_state() if cuda else torch.get_rng_state()
        student = f_theta(self.net, self.x + self.s_student.reshape(-1, 1, 1, 1) * self.z, self.s_student)
        (torch.cuda.set_rng_state if cuda else torch.set_rng_state)(state)
        with torch.no_grad():
            teacher = f_theta(self.net, self.x + self.s_teacher.reshape(-1, 1, 1, 1) * self.z, self.s_teacher)
        sq = (student - teacher).square().flatten(1).sum(1)
        return (self.weight * (torch.sqrt(sq + self.c ** 2) - self.c)).mean()

    def loss0(self, _cmd):
        self.net.eval()
        with torch.no_grad():
            value = float(self.loss())
        self.net.train()
        return {'loss': value}

    def steps(self, cmd):
        self.net.train()
        times, cpu, losses = [], [], []
        for _ in range(int(cmd['n'])):
            c0 = time.process_time()
            t0 = time.perf_counter()
            self.opt.zero_grad(set_to_none=True)
            with self.autocast():
                loss = self.loss()
            loss.backward()
            self.opt.step()
            losses.append(float(loss))
            times.append((time.perf_counter() - t0) * 1000.0)
            cpu.append((time.process_time() - c0) * 1000.0)
        return {'ms': times, 'cpu_ms': cpu, 'losses': losses}

    def sample(self, cmd):
        self.net.eval()
        times = []
        with torch.no_grad():
            for _ in range(int(cmd['n'])):
                t0 = time.perf_counter()
                s = torch.full((self.z.shape[0],), SIGMA_MAX, device=self.device)
                with self.autocast():
                    out = f_theta(self.net, SIGMA_MAX * self.z, s)
                float(out.float().sum())
                times.append((time.perf_counter() - t0) * 1000.0)
        self.net.train()
        return {'ms': times}

    def rss(self, _cmd):
        return {'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def main():
    peer = Peer()
    peer_common.serve({'hello': peer.hello, 'init': peer.init, 'loss0': peer.loss0, 'steps': peer.steps, 'sample': peer.sample, 'rss': peer.rss})


if __name__ == '__main__':
    main()

"""Reference for src/generate/noise.ts, written from the published algorithms: splitmix32 seeding,
xoshiro128** (Blackman and Vigna 2018) and Box-Muller. Prints JSON {uint32: [...], normal: [...]}.
Usage: noise_ref.py SEED COUNT_UINT32 COUNT_NORMAL"""
import json
import math
import sys

M = 0xFFFFFFFF


def splitmix32(seed):
    z = seed & M
    while True:
        z = (z + 0x9E3779B9) & M
        t = z
        t = ((t ^ (t >> 16)) * 0x85EBCA6B) & M
        t = ((t ^ (t >> 13)) * 0xC2B2AE35) & M
        yield (t ^ (t >> 16)) & M


def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M


class Xoshiro128ss:
    def __init__(self, seed):
        g = splitmix32(seed)
        self.s = [next(g) for _ in range(4)]

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 9) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 11)
        return result

    def uniform(self):
        return (self.next() + 0.5) / 4294967296.0


def main():
    seed, n_int, n_normal = (int(a) for a in sys.argv[1:4])
    ints = Xoshiro128ss(seed)
    uint32 = [ints.next() for _ in range(n_int)]
    g = Xoshiro128ss(seed)
    normal = []
    while len(normal) < n_normal:
        r = math.sqrt(-2.0 * math.log(g.uniform()))
        angle = 2.0 * math.pi * g.uniform()
        normal.append(r * math.cos(angle))
        normal.append(r * math.sin(angle))
    print(json.dumps({'uint32': uint32, 'normal': normal[:n_normal]}))


if __name__ == '__main__':
    main()

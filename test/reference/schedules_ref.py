#!/usr/bin/env python3
"""Reference values for test/schedules.test.ts and test/scalings.test.ts, printed as one JSON object.

Written straight from docs/method.md (sections 1-4) with Python floats, independently of the
TypeScript code. Probabilities and erf values come from mpmath at 50 digits when it is installed,
else from math.erf/math.erfc taken the stable way (erfc differences in the tails); the key
"reference" says which. Run: python3 test/reference/schedules_ref.py
"""
import json
import math
import sys

try:
    import mpmath

    mpmath.mp.dps = 50
    HAVE_MPMATH = True
except ImportError:  # pragma: no cover
    HAVE_MPMATH = False

SIGMA_MIN, SIGMA_MAX, RHO, SIGMA_DATA = 0.002, 80.0, 7.0, 0.5


def karras(n, smin=SIGMA_MIN, smax=SIGMA_MAX, rho=RHO):
    lo, hi = smin ** (1 / rho), smax ** (1 / rho)
    s = [(lo + i / (n - 1) * (hi - lo)) ** rho for i in range(n)]
    # Endpoints exactly sigma_min and sigma_max (the formula may be an ulp off).
    s[0], s[-1] = smin, smax
    return s


def ict_k_prime(K, s0=10, s1=1280):
    return math.floor(K / (math.log2(math.floor(s1 / s0)) + 1))


def ict_N(k, K, s0=10, s1=1280):
    kp = max(1, ict_k_prime(K, s0, s1))
    return min(s0 * 2 ** math.floor(k / kp), s1) + 1


def ct_N(k, K, s0=2, s1=150):
    return math.ceil(math.sqrt(k / K * ((s1 + 1) ** 2 - s0 ** 2) + s0 ** 2) - 1) + 1


def ct_mu(k, K, s0=2, s1=150, mu0=0.9):
    return math.exp(s0 * math.log(mu0) / ct_N(k, K, s0, s1))


def lognormal_probs(sigmas, p_mean=-1.1, p_std=2.0):
    # erf(b) - erf(a) taken as an erfc difference when a and b are on one side of 0, so that tail
    # probabilities keep their relative precision (even at 50 digits, erf(b) - erf(a) would lose
    # everything below 1e-50).
    if HAVE_MPMATH:
        erf, erfc = mpmath.erf, mpmath.erfc
        u = [(mpmath.log(mpmath.mpf(s)) - p_mean) / (mpmath.sqrt(2) * p_std) for s in sigmas]
    else:
        erf, erfc = math.erf, math.erfc
        u = [(math.log(s) - p_mean) / (math.sqrt(2) * p_std) for s in sigmas]

    def diff(a, b):
        if a >= 0:
            return erfc(a) - erfc(b)
        if b <= 0:
            return erfc(-b) - erfc(-a)
        return erf(b) - erf(a)

    m = [diff(a, b) for a, b in zip(u[:-1], u[1:])]
    total = sum(m)
    return [float(x / total) for x in m]


def erf_table():
    xs = [0.0, 1e-300, 1e-20, 1e-8, 0.1, -0.3, 0.46875, 0.5, -0.75, 1.0, 1.5, 2.0, -2.5, 3.0, 3.99, 4.0, 4.01, 5.5, -6.0, 8.0, 10.0, 15.0, 20.0, 26.0]
    xs += [round(-6 + 0.37 * i, 10) for i in range(40)]
    rows = []
    for x in xs:
        if HAVE_MPMATH:
            X = mpmath.mpf(x)
            rows.append([x, float(mpmath.erf(X)), float(mpmath.erfc(X))])
        else:
            rows.append([x, math.erf(x), math.erfc(x)])
    return rows


def scalings(sigma, smin=SIGMA_MIN, sd=SIGMA_DATA):
    if HAVE_MPMATH:
        s, m, d = mpmath.mpf(sigma), mpmath.mpf(smin), mpmath.mpf(sd)
        return {
            "sigma": sigma,
            "cSkip": float(d**2 / ((s - m) ** 2 + d**2)),
            "cOut": float(d * (s - m) / mpmath.sqrt(d**2 + s**2)),
            "cIn": float(1 / mpmath.sqrt(s**2 + d**2)),
            "cNoiseFourier": float(mpmath.mpf("0.25") * mpmath.log(s)),
            "cNoisePositional": float(1000 * mpmath.mpf("0.25") * mpmath.log(s + mpmath.mpf(1e-44))),
        }
    return {
        "sigma": sigma,
        "cSkip": sd**2 / ((sigma - smin) ** 2 + sd**2),
        "cOut": sd * (sigma - smin) / math.sqrt(sd**2 + sigma**2),
        "cIn": 1 / math.sqrt(sigma**2 + sd**2),
        "cNoiseFourier": 0.25 * math.log(sigma),
        "cNoisePositional": 1000 * 0.25 * math.log(sigma + 1e-44),
    }


def main():
    out = {"reference": "mpmath" if HAVE_MPMATH else "math.erf", "python": sys.version.split()[0]}
    out["karras"] = {str(n): karras(n) for n in (2, 3, 11, 151, 1281)}
    out["karrasCustom"] = {"n": 17, "sigmaMin": 0.01, "sigmaMax": 50.0, "rho": 3.0, "sigmas": karras(17, 0.01, 50.0, 3.0)}

    ict = []
    for K, s0, s1 in ((400_000, 10, 1280), (800_000, 10, 1280), (100_000, 10, 1000), (1_000, 4, 64), (5, 10, 1280)):
        kp = ict_k_prime(K, s0, s1)
        ks = {0, K}
        for j in range(1, 12):
            for k in (j * max(kp, 1) - 1, j * max(kp, 1)):
                if 0 <= k <= K:
                    ks.add(k)
        ict.append({"K": K, "s0": s0, "s1": s1, "kPrime": kp, "N": [[k, ict_N(k, K, s0, s1)] for k in sorted(ks)]})
    out["ict"] = ict

    ct = []
    for K, s0, s1, mu0 in ((800_000, 2, 150, 0.9), (400_000, 2, 150, 0.9), (600_000, 2, 200, 0.95), (1_000, 2, 150, 0.9)):
        ks = sorted({0, K, 1, K - 1} | {K * j // 97 for j in range(98)})
        ct.append({"K": K, "s0": s0, "s1": s1, "mu0": mu0, "values": [[k, ct_N(k, K, s0, s1), ct_mu(k, K, s0, s1, mu0)] for k in ks]})
    out["ct"] = ct

    probs = []
    for n in (11, 21, 41, 81, 161, 321, 641, 1281):
        probs.append({"N": n, "pMean": -1.1, "pStd": 2.0, "sigmas": karras(n), "p": lognormal_probs(karras(n))})
    # Narrow distributions whose upper (and lower) tails hold tiny probabilities.
    for n, pm, ps in ((41, -1.1, 0.2), (81, 3.0, 0.3), (21, -5.5, 0.25)):
        probs.append({"N": n, "pMean": pm, "pStd": ps, "sigmas": karras(n), "p": lognormal_probs(karras(n), pm, ps)})
    out["probabilities"] = probs

    out["erf"] = erf_table()
    out["scalings"] = [scalings(s) for s in (0.002, 0.0020001, 0.01, 0.1, 0.5, 0.821, 1.526, 10.0, 80.0)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""What the Python peers of the benchmarks share (bench/engine_ref.py, bench/networks_ref.py,
bench/inception_ref.py): the answer to {"op": "hello"} and the loop that reads one JSON command
per line on stdin and writes one JSON answer per line on stdout.

The peers are run as scripts (python3 -u bench/X_ref.py), so bench/ is on sys.path and they
import this module as `peer_common`.
"""
import json
import os
import sys

import torch

# The variables that change how many threads libtorch, OpenMP or BLAS use (the same list as
# THREAD_ENV_PREFIXES in bench/torch_peer.ts, so both sides report the same ones).
THREAD_ENV_PREFIXES = ("OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_")


def hello():
    """torch version, pid and the thread environment of this process."""
    env = {k: v for k, v in os.environ.items() if k.startswith(THREAD_ENV_PREFIXES)}
    return {"torch": torch.__version__, "pid": os.getpid(), "env": env}


def serve(handlers):
    """Answers each command with handlers[op](cmd) until {"op": "quit"} or the end of stdin.

    Any failure, an unknown op included, answers {"error": "Type: message"} and the peer keeps
    going; the TS side reports it with the command that failed.
    """
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if cmd.get("op") == "quit":
                break
            handler = handlers.get(cmd.get("op"))
            if handler is None:
                raise ValueError(f"unknown op {cmd.get('op')!r}")
            reply = handler(cmd)
        except Exception as e:
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()

#!/usr/bin/env bash
# Sets up a fresh Debian machine (run as root) for consistency-ts: the compiler, Node.js,
# libtorch (Debian's libtorch-dev unless LIBTORCH or python3's torch is already there), the
# Python torch the tests compare against, OpenBLAS (10x faster than the reference BLAS), then
# `npm ci`, which builds the native addon. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
have_python_torch() { python3 -c 'import torch' >/dev/null 2>&1; }
command -v g++ >/dev/null 2>&1 || need_apt+=(g++ make)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [[ -z "${LIBTORCH:-}" ]] && ! have_python_torch; then
  [[ -f /usr/include/ATen/ATen.h ]] || need_apt+=(libtorch-dev)
fi
# The tests' reference: Debian's python3-torch for /usr/bin/python3 (unless python3 has torch).
have_python_torch || /usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need_apt+=(python3-torch)
/usr/bin/python3 -c 'import numpy, scipy' >/dev/null 2>&1 || need_apt+=(python3-numpy python3-scipy)
/usr/bin/python3 -c 'import mpmath' >/dev/null 2>&1 || need_apt+=(python3-mpmath)
dpkg -s libopenblas0 >/dev/null 2>&1 || need_apt+=(libopenblas0)
# gloo's headers, which libtorch's c10d ProcessGroupGloo.hpp includes (data-parallel training, issue 10).
[[ -f /usr/include/gloo/algorithm.h ]] || need_apt+=(libgloo-dev)
# Fashion-MNIST's IDX files, one of the datasets (and used by the tests).
[[ -d /usr/share/datasets/fashion-mnist ]] || need_apt+=(dataset-fashion-mnist)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)

if ((${#need_apt[@]})); then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "setup: Node.js $(node --version) found; consistency-ts needs Node.js 20 or newer" >&2
  exit 1
fi

# Python's safetensors package, for the tests that check files interchange with it.
if [[ ! -d .cache/pydeps/safetensors ]]; then
  pip=(python3 -m pip)
  "${pip[@]}" --version >/dev/null 2>&1 || pip=(/usr/bin/python3 -m pip)
  "${pip[@]}" install -q --disable-pip-version-check --target .cache/pydeps safetensors==0.4.5 ||
    echo "setup: could not install Python safetensors into .cache/pydeps (the interchange tests will fail)" >&2
fi

npm ci --no-audit --no-fund
npm run build

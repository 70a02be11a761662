#!/usr/bin/env bash
# Sets up a fresh Debian machine (run as root) for consistency-ts: the compiler, Node.js,
# libtorch, the Python torch the tests compare against, OpenBLAS (10x faster than the reference
# BLAS), then `npm ci`, which builds the native addon. Safe to run again.
# The libtorch (README, "libtorch"):
#   CONSISTENCY_TORCH=debian  Debian's libtorch-dev 1.13 and python3-torch;
#   CONSISTENCY_TORCH=pip     PyPI's torch==2.15.0 (a CUDA build; it runs without a GPU too),
#                             pip-installed into .cache/torch-pip for /usr/bin/python3;
#   unset                     LIBTORCH or python3's torch when there is one, else Debian's.
set -euo pipefail
cd "$(dirname "$0")/.."

torch_choice=${CONSISTENCY_TORCH:-}
case "$torch_choice" in
  '' | debian | pip) ;;
  *) echo "setup: CONSISTENCY_TORCH must be 'pip' or 'debian', got '$torch_choice'" >&2; exit 2 ;;
esac
PIP_TORCH_VERSION=2.15.0

need_apt=()
have_python_torch() { python3 -c 'import torch' >/dev/null 2>&1; }
command -v g++ >/dev/null 2>&1 || need_apt+=(g++ make)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [[ "$torch_choice" == debian ]] || { [[ -z "$torch_choice" && -z "${LIBTORCH:-}" ]] && ! have_python_torch; }; then
  [[ -f /usr/include/ATen/ATen.h ]] || need_apt+=(libtorch-dev)
fi
# The tests' reference: Debian's python3-torch for /usr/bin/python3 (unless python3 has torch);
# for pip's torch, that torch itself (below).
if [[ "$torch_choice" == debian ]]; then
  /usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need_apt+=(python3-torch)
elif [[ -z "$torch_choice" ]]; then
  have_python_torch || /usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need_apt+=(python3-torch)
fi
/usr/bin/python3 -c 'import numpy, scipy' >/dev/null 2>&1 || need_apt+=(python3-numpy python3-scipy)
/usr/bin/python3 -c 'import mpmath' >/dev/null 2>&1 || need_apt+=(python3-mpmath)
dpkg -s libopenblas0 >/dev/null 2>&1 || need_apt+=(libopenblas0)
# gloo's headers, which libtorch's c10d ProcessGroupGloo.hpp includes (data-parallel training, issue 10).
[[ -f /usr/include/gloo/algorithm.h ]] || need_apt+=(libgloo-dev)
# Fashion-MNIST's IDX files, one of the datasets (and used by the tests).
[[ -d /usr/share/datasets/fashion-mnist ]] || need_apt+=(dataset-fashion-mnist)
# Headless Chromium for the browser end-to-end test (test/browser.test.ts drives it with playwright-core).
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
# pip's torch is installed for /usr/bin/python3 (whose numpy and scipy the references use), by its own pip.
[[ "$torch_choice" != pip ]] || /usr/bin/python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)

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

# The study's diffusers peer (npm run study; bench/study_peer_diffusers.py), only when asked for with
# STUDY_PEERS=1: diffusers and what it imports, each pinned, into .cache/study-peers. No numpy there:
# Debian's torch keeps the numpy it was built with.
if [[ ${STUDY_PEERS:-0} == 1 && ! -d .cache/study-peers/diffusers ]]; then
  pip=(python3 -m pip)
  "${pip[@]}" --version >/dev/null 2>&1 || pip=(/usr/bin/python3 -m pip)
  "${pip[@]}" install -q --disable-pip-version-check --no-deps --target .cache/study-peers \
    diffusers==0.31.0 huggingface_hub==0.25.2 safetensors==0.4.5 Pillow==13.0.0 regex==2026.11.19 filelock==4.3.1 \
    importlib-metadata==10.2.0 zipp==4.1.2 lazy-importer==0.1.0 fsspec==2026.9.0 packaging==26.4 pyyaml==6.0.4 tqdm==4.70.1 \
    typing-extensions==4.16.0 requests==2.34.2 certifi==2026.10.19.post1 charset-normalizer==3.5.3 idna==3.20 urllib3==2.8.0 ||
    echo "setup: could not install the study's diffusers peer into .cache/study-peers" >&2
fi
# The study's second peer (bench/study_peer_kinyugo.py): Kinyugo's consistency_models, published only
# on GitHub, pinned to a commit (it needs torch and tqdm, both above). STUDY_KINYUGO_GIT points pip at
# another copy of that repository (a mirror, a file:// path) where GitHub is out of reach.
KINYUGO_COMMIT=2e6618d4b908f7ef7f5424d83afe0eb5c6c85957
if [[ ${STUDY_PEERS:-0} == 1 && ! -d .cache/study-peers/consistency_models ]]; then
  pip=(python3 -m pip)
  "${pip[@]}" --version >/dev/null 2>&1 || pip=(/usr/bin/python3 -m pip)
  "${pip[@]}" install -q --disable-pip-version-check --no-deps --target .cache/study-peers \
    "git+${STUDY_KINYUGO_GIT:-https://github.com/Kinyugo/consistency_models.git}@$KINYUGO_COMMIT" ||
    echo "setup: could not install the study's Kinyugo peer into .cache/study-peers (GitHub out of reach? see STUDY_KINYUGO_GIT)" >&2
fi
# PyPI's torch with its CUDA runtime packages (pip requires them all: torch's Python module
# loads libtorch_cuda; about 3.0 GB downloaded, 5.3 GB installed, pip's cache makes reruns quick).
# The marker is written only after pip succeeded, so an interrupted install is redone.
if [[ "$torch_choice" == pip && ! -f .cache/torch-pip/.installed-$PIP_TORCH_VERSION ]]; then
  echo "setup: installing torch==$PIP_TORCH_VERSION from PyPI into .cache/torch-pip" >&2
  rm -rf .cache/torch-pip
  /usr/bin/python3 -m pip install -q --disable-pip-version-check --target .cache/torch-pip "torch==$PIP_TORCH_VERSION"
  touch ".cache/torch-pip/.installed-$PIP_TORCH_VERSION"
fi
# build-native.mjs (run by npm ci) reads the choice.
[[ -z "$torch_choice" ]] || export CONSISTENCY_TORCH="$torch_choice"

# Python's onnx package, whose checker the ONNX export tests run (pinned with the protobuf its
# generated code needs; --no-deps keeps Debian's numpy, which python3-torch is built against).
if [[ ! -d .cache/pydeps/onnx ]]; then
  pip=(python3 -m pip)
  "${pip[@]}" --version >/dev/null 2>&1 || pip=(/usr/bin/python3 -m pip)
  "${pip[@]}" install -q --disable-pip-version-check --target .cache/pydeps --no-deps onnx==1.23.2 protobuf==6.31.1 ml_dtypes==0.5.3 typing_extensions==4.15.0 ||
    echo "setup: could not install Python onnx into .cache/pydeps (the ONNX export tests will fail)" >&2
fi

# onnxruntime-node's postinstall would download CUDA binaries from outside the npm registry; the
# CPU runtime ships inside the package, so skip that step (its documented switch).
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npm run build

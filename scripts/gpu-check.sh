#!/usr/bin/env bash
# The GPU check (issue 12). On a machine with an NVIDIA GPU and python3 with a CUDA torch, but
# possibly without Node.js or a network (carry this checkout with node_modules/ and .debs/), it
#   1. installs Node.js from the .deb files in .debs/ when `node` is missing (only the packages
#      not installed already);
#   2. builds the addon against that python3's torch (LIBTORCH = its package folder; NCCL when
#      the CUDA and NCCL headers are found, e.g. in pip's nvidia packages) and compiles the TypeScript;
#   3. runs on CUDA against Python torch on CUDA (CONSISTENCY_TEST_DEVICE=cuda, test/helpers/device.ts):
#      every op case of test/ops.test.ts (inputs on the GPU, forward and gradients) and dropout's
#      mask replay from a CUDA generator, and test/networks.test.ts's network comparisons (outputs
#      and every gradient) and dropout-mask replay;
#   4. runs the data-parallel tests (test/distributed.test.ts: Gloo, and NCCL with CUDA tensors)
#      and the build's own checks (native build facts, autocast, loss scaler, channels-last, the
#      mixed-precision training step);
#   5. times the training step of the paper's cifar10 network (56M parameters) at batch 128 on
#      CUDA in fp32 and bf16 autocast against PyTorch eager doing the same step (bench/cuda-step.ts);
# and prints ONE JSON line: the GPU, the torch, each test file's counts and status, the timings.
# Exit code 0 when every test passed (none skipped on CUDA), 1 otherwise; logs in $GPU_CHECK_LOGS
# (default /tmp/gpu-check). Without a GPU it stops with one line and exit code 1 (an unknown
# argument: exit code 2).
#
# scripts/gpu-check.sh --download-debs (on a Debian 12 machine with the registries and this
# project's Node installed) fills .debs/: the installed nodejs package repacked with dpkg-repack
# (NodeSource's 20.x, which apt cannot download again; package.json wants node >= 20.15, Debian 12's
# own nodejs is 18), and its Debian dependencies a bare image may lack (apt-get download).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "gpu-check: $1" >&2
  exit 1
}

# What nodesource's nodejs depends on beyond libc6, libgcc-s1, libstdc++6 and python3 (there
# wherever a CUDA torch runs): ca-certificates, and what it needs.
NODE_DEPS=(ca-certificates openssl libssl3 debconf)

if [[ "${1:-}" == --download-debs ]]; then
  command -v dpkg-repack >/dev/null 2>&1 || fail "--download-debs needs dpkg-repack (apt-get install dpkg-repack)"
  dpkg-query -W -f='${Status}' nodejs 2>/dev/null | grep -q 'install ok installed' || fail "--download-debs: the nodejs package is not installed here"
  rm -rf .debs
  mkdir -p .debs
  (cd .debs && dpkg-repack nodejs >/dev/null 2>&1) || fail "dpkg-repack nodejs failed"
  (cd .debs && apt-get download "${NODE_DEPS[@]}" >/dev/null 2>&1) || fail "apt-get download ${NODE_DEPS[*]} failed"
  for deb in .debs/*.deb; do dpkg-deb -I "$deb" >/dev/null 2>&1 || fail "$deb is not a readable .deb"; done
  # The repacked Node runs from its files alone.
  node_deb=$(compgen -G '.debs/nodejs_*.deb' | head -1) || fail "no nodejs .deb was written"
  unpacked=$(mktemp -d)
  dpkg-deb -x "$node_deb" "$unpacked"
  version=$("$unpacked/usr/bin/node" --version) || fail "the node of $node_deb does not run"
  rm -rf "$unpacked"
  echo "gpu-check: $(compgen -G '.debs/*.deb' | wc -l) .deb files in .debs/: nodejs $version (repacked) and ${NODE_DEPS[*]}"
  exit 0
fi
if [[ $# -gt 0 ]]; then
  echo "gpu-check: unknown argument '$1' (usage: scripts/gpu-check.sh [--download-debs])" >&2
  exit 2
fi

command -v nvidia-smi >/dev/null 2>&1 || [[ -e /dev/nvidia0 ]] || fail "no NVIDIA GPU found (no nvidia-smi, no /dev/nvidia0)"
python=$(command -v python3 || true)
[[ -n "$python" ]] || fail "no python3"
"$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null ||
  fail "python3 has no CUDA torch that sees a GPU (python3 -c 'import torch; print(torch.cuda.is_available())')"
# The Python references hand tensors over through numpy (a torch wheel does not bring it).
"$python" -c 'import numpy' 2>/dev/null || fail "python3 has no numpy, which the Python references need (pip install numpy)"
command -v g++ >/dev/null 2>&1 || fail "no g++ to build the addon"

if ! command -v node >/dev/null 2>&1; then
  compgen -G '.debs/*.deb' >/dev/null || fail "no node and no .debs/*.deb to install it from (run scripts/gpu-check.sh --download-debs where the registries are reachable)"
  missing=()
  for deb in .debs/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$deb")
  done
  [[ ${#missing[@]} -gt 0 ]] || fail "node is missing, but every package in .debs/ is installed (check nodejs: dpkg -L nodejs)"
  dpkg -i "${missing[@]}" >/dev/null || fail "installing Node.js from .debs/ failed (dpkg -i ${missing[*]})"
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 15) ? 0 : 1)' ||
  fail "node $(node --version) is older than package.json's engines (>= 20.15)"
# The build needs node-addon-api and node-api-headers; the TypeScript is compiled here when
# typescript is carried, else dist/ must be carried compiled (node_modules/ is 600 MB in full,
# most of it onnxruntime and the browser test's packages, which this check does not load).
[[ -d node_modules/node-addon-api && -d node_modules/node-api-headers ]] || fail "node_modules/ (node-addon-api, node-api-headers) is missing (carry it along, or run npm ci)"
[[ -d node_modules/typescript || -f dist/test/ops.test.js ]] || fail "neither node_modules/typescript nor a compiled dist/ is here (carry one of them)"

logs=${GPU_CHECK_LOGS:-/tmp/gpu-check}
mkdir -p "$logs"
torch_dir=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
CONSISTENCY_PYTHON="$python" LIBTORCH="$torch_dir" node scripts/build-native.mjs --force >"$logs/build.log" 2>&1 ||
  fail "building the addon against $torch_dir failed (see $logs/build.log)"
if [[ -d node_modules/typescript ]]; then
  node node_modules/typescript/bin/tsc -p tsconfig.json >"$logs/tsc.log" 2>&1 || fail "tsc failed (see $logs/tsc.log)"
fi
node -e 'import("./dist/src/tensor/native.js").then((m) => process.exit(m.native.buildInfo().cuda ? 0 : 1))' ||
  fail "the addon built against $torch_dir sees no GPU (see $logs/build.log)"

# name:file:device. The CUDA runs must skip nothing (for distributed: the NCCL test, which skips
# without NCCL); the others run as in npm test.
runs=(ops-cuda:ops:cuda networks-cuda:networks:cuda distributed-nccl:distributed:cuda
  native-build:native-build:cpu autocast:autocast:cpu loss-scaler:loss-scaler:cpu channels-last:channels-last:cpu precision-train:precision-train:cpu)
status=0
for r in "${runs[@]}"; do
  IFS=: read -r name file device <<<"$r"
  CONSISTENCY_TEST_DEVICE=$device node --test --test-concurrency=1 "dist/test/$file.test.js" >"$logs/$name.log" 2>&1 || status=1
done
node dist/bench/run.js cuda-step >"$logs/cuda-step.jsonl" 2>"$logs/cuda-step.log" || status=1

# The one JSON line (and the exit status: any failure, or a skip in a CUDA run, is 1).
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo unknown) \
  TORCH_VERSION=$("$python" -c 'import torch; print(torch.__version__)') RUNS="${runs[*]}" LOGS="$logs" STATUS=$status node --input-type=module -e '
import { readFileSync, existsSync } from "node:fs";
const logs = process.env.LOGS;
const count = (text, key) => Number((new RegExp(`^# ${key} (\\d+)$`, "m").exec(text) ?? [])[1] ?? NaN);
let ok = process.env.STATUS === "0";
const tests = {};
for (const run of process.env.RUNS.split(" ")) {
  const [name, , device] = run.split(":");
  const text = existsSync(`${logs}/${name}.log`) ? readFileSync(`${logs}/${name}.log`, "utf8") : "";
  const t = { tests: count(text, "tests"), pass: count(text, "pass"), fail: count(text, "fail"), skipped: count(text, "skipped") };
  const passed = t.fail === 0 && t.pass > 0 && (device !== "cuda" || t.skipped === 0);
  if (!passed) ok = false;
  tests[name] = { status: passed ? "pass" : "fail", ...t };
}
const stepFile = `${logs}/cuda-step.jsonl`;
const cudaStep = existsSync(stepFile) ? readFileSync(stepFile, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
if (cudaStep.length !== 2) ok = false;
console.log(JSON.stringify({ gpu: process.env.GPU_NAME, torch: process.env.TORCH_VERSION, ok, tests, cuda_step: cudaStep, logs }));
process.exit(ok ? 0 : 1);
'

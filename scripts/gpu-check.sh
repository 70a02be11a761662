#!/usr/bin/env bash
# The GPU check (issue 12). On a machine with an NVIDIA GPU and python3 with a CUDA torch, but
# possibly without Node.js or a network, it
#   1. takes what the tracked tree lacks from .gpu-carry/ (scripts/gpu-check.sh --pack, below):
#      Node.js unpacked from its .deb into a private prefix when `node` is missing (never
#      installed into /), the node_modules/ packages the check loads, dist/ compiled (checked
#      against the sources: a stale carry stops with one line), gloo's headers (a pip torch has
#      none, and without them the addon builds no distributed training) and any Python wheels;
#   2. builds the addon against that python3's torch (LIBTORCH = its package folder; NCCL when
#      the CUDA and NCCL headers are found: CUDA_HOME, else nvcc's toolkit, and pip's nvidia
#      packages);
#   3. runs on CUDA against Python torch on CUDA (CONSISTENCY_TEST_DEVICE=cuda, test/helpers/device.ts):
#      every op case of test/ops.test.ts (inputs on the GPU, forward and gradients) and dropout's
#      mask replay from a CUDA generator, test/networks.test.ts's network comparisons (outputs
#      and every gradient) and dropout-mask replay, and the data-parallel tests
#      (test/distributed.test.ts: Gloo, and NCCL with CUDA tensors);
#   4. meanwhile (GPU_CHECK_PARALLEL=1, the default on a GPU) the build's own checks on CPU
#      (native build facts, autocast, loss scaler, channels-last, the mixed-precision training step);
#   5. times the training step of the paper's cifar10 network (56M parameters) at batch 128 on
#      CUDA in fp32 and bf16 autocast against PyTorch eager doing the same step (bench/cuda-step.ts);
# and prints ONE JSON line: the GPU, the torch, the Node.js, each test file's counts, status and
# seconds, the timings. Exit code 0 when every test passed (none skipped on CUDA), 1 otherwise;
# logs in $GPU_CHECK_LOGS (default /tmp/gpu-check). Without a GPU it stops with one line and exit
# code 1 (an unknown argument: exit code 2). Everything ends within GPU_CHECK_BUDGET_S seconds
# (default 480; each step is cut off at it, the benchmark keeps the last 150); GPU_CHECK_RUNS
# (names, space-separated) runs only those tests, GPU_CHECK_BENCH=0 skips the benchmark (a
# rerun on a warm machine keeps build/, and build-native.mjs skips an addon newer than its sources).
#
# On the device tool (one `run`, with the working tree and .gpu-carry/; of its 15 minutes of
# device time a fresh H200 machine takes a minute or two to start; the check, estimated, not yet
# measured there: unpacking seconds, the build 1 to 2 minutes on 16 cores, the CUDA test files
# 2 to 3 with the CPU ones beside them, the benchmark 1 to 2; GPU_CHECK_BUDGET_S stops it by 8):
#   command:   bash scripts/gpu-check.sh 2>&1 | tee $OUT/gpu-check.txt; rc=${PIPESTATUS[0]}; tar -czf $OUT/gpu-check-logs.tar.gz -C /tmp gpu-check; exit $rc
#   carry:     [".gpu-carry"]
#   timeout_s: 570
# then give_back (unless rerunning a part at once, e.g. GPU_CHECK_RUNS=ops-cuda GPU_CHECK_BENCH=0).
#
# scripts/gpu-check.sh --download-debs (on a Debian 12 machine with the registries and this
# project's Node installed) fills .debs/ with the installed nodejs package repacked by dpkg-repack
# (NodeSource's 20.x, which apt cannot download again; package.json wants node >= 20.15, Debian
# 12's own nodejs is 18). Its node needs only libc, libstdc++ and libgcc (OpenSSL and the CA
# certificates are built in), so it runs unpacked anywhere.
#
# scripts/gpu-check.sh --pack (here, after npm ci and --download-debs; scripts/gpu-carry.mjs)
# writes .gpu-carry/ (ignored; about 43 MiB, 45 with the tree) and prints its size; it fails over 60 MiB, or when
# a module the check loads imports a package that it lacks. Pack again after changing the
# TypeScript: the carried dist/ must match the sources.
#
# scripts/gpu-check.sh --rehearse proves the carry here, without a GPU: it copies what the device
# tool sends (the tracked and untracked-not-ignored files, and .gpu-carry/; no node_modules/,
# dist/ or build/) into an empty folder under /tmp and runs the check there with
# GPU_CHECK_REHEARSE=1 (no GPU needed; every test on CPU; the benchmark must stop at its no-GPU
# line) and GPU_CHECK_NODE_FROM_DEBS=1 (Node.js from the carried .deb even though node is
# installed), against the pip torch of .cache/torch-pip when there is one (GPU_CHECK_PYTHON and
# PYTHONPATH choose another), niced, the two groups one after the other (GPU_CHECK_PARALLEL=1: side
# by side, as on a GPU). It ends with the check's JSON line and exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "gpu-check: $1" >&2
  exit 1
}

# The test runs, name:file:device. The CUDA runs must skip nothing (for distributed: the NCCL
# test, which skips without NCCL); the others run as in npm test.
RUNS=(ops-cuda:ops:cuda networks-cuda:networks:cuda distributed-nccl:distributed:cuda
  native-build:native-build:cpu autocast:autocast:cpu loss-scaler:loss-scaler:cpu channels-last:channels-last:cpu precision-train:precision-train:cpu)
CARRY=.gpu-carry

case "${1:-}" in
  --download-debs)
    command -v dpkg-repack >/dev/null 2>&1 || fail "--download-debs needs dpkg-repack (apt-get install dpkg-repack)"
    dpkg-query -W -f='${Status}' nodejs 2>/dev/null | grep -q 'install ok installed' || fail "--download-debs: the nodejs package is not installed here"
    rm -rf .debs
    mkdir -p .debs
    (cd .debs && dpkg-repack nodejs >/dev/null 2>&1) || fail "dpkg-repack nodejs failed"
    node_deb=$(compgen -G '.debs/nodejs_*.deb' | head -1) || fail "no nodejs .deb was written"
    dpkg-deb -I "$node_deb" >/dev/null 2>&1 || fail "$node_deb is not a readable .deb"
    # The repacked Node runs from its files alone.
    unpacked=$(mktemp -d)
    dpkg-deb -x "$node_deb" "$unpacked"
    version=$("$unpacked/usr/bin/node" --version) || fail "the node of $node_deb does not run"
    rm -rf "$unpacked"
    echo "gpu-check: $node_deb: nodejs $version (repacked)"
    exit 0
    ;;
  --pack)
    [[ $# -eq 1 ]] || fail "--pack takes no further arguments"
    command -v node >/dev/null 2>&1 || fail "--pack needs node (and npm ci's node_modules/)"
    files=()
    for r in "${RUNS[@]}"; do
      IFS=: read -r _ file _ <<<"$r"
      files+=("$file")
    done
    exec node scripts/gpu-carry.mjs pack "${files[@]}"
    ;;
  --rehearse)
    [[ $# -eq 1 ]] || fail "--rehearse takes no further arguments"
    [[ -f $CARRY/manifest.json ]] || fail "--rehearse needs $CARRY/ (scripts/gpu-check.sh --pack)"
    # Nothing above the copy may lend it packages.
    for d in /tmp/node_modules /node_modules; do [[ ! -e $d ]] || fail "--rehearse: $d exists, and Node would find packages there"; done
    pythonpath=${PYTHONPATH:-}
    [[ -n $pythonpath || ! -d .cache/torch-pip/torch ]] || pythonpath=$(readlink -f .cache/torch-pip)
    python=${GPU_CHECK_PYTHON:-}
    if [[ -z $python ]]; then
      for p in /usr/bin/python3 python3; do
        if PYTHONPATH=$pythonpath "$p" -c 'import torch, numpy' 2>/dev/null; then
          python=$(command -v "$p")
          break
        fi
      done
    fi
    [[ -n $python ]] || fail "--rehearse: no python3 imports torch and numpy (PYTHONPATH=$pythonpath; set GPU_CHECK_PYTHON)"
    dest=$(mktemp -d /tmp/gpu-check-rehearsal.XXXXXX)
    mkdir "$dest/repo"
    # What the device tool sends: the tracked and untracked-not-ignored files (links as links)
    # and the carried folder.
    git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do if [[ -e $f || -L $f ]]; then printf '%s\0' "$f"; fi; done |
      tar --null -T - -cf - | tar -xf - -C "$dest/repo"
    cp -a "$CARRY" "$dest/repo/"
    echo "gpu-check: rehearsing in $dest/repo ($(du -sm "$dest/repo" | cut -f1) MiB sent; python $python, PYTHONPATH=$pythonpath)" >&2
    status=0
    (cd "$dest/repo" && env -u NODE_PATH GPU_CHECK_REHEARSE=1 GPU_CHECK_NODE_FROM_DEBS=1 GPU_CHECK_PYTHON="$python" PYTHONPATH="$pythonpath" \
      GPU_CHECK_PREFIX="$dest/prefix" GPU_CHECK_LOGS="${GPU_CHECK_LOGS:-$dest/logs}" GPU_CHECK_BUDGET_S="${GPU_CHECK_BUDGET_S:-3000}" \
      nice -n 10 bash scripts/gpu-check.sh) || status=$?
    rm -rf "$dest/repo" "$dest/prefix"
    echo "gpu-check: rehearsal exit code $status; logs in ${GPU_CHECK_LOGS:-$dest/logs}" >&2
    exit "$status"
    ;;
  "") ;;
  *)
    echo "gpu-check: unknown argument '$1' (usage: scripts/gpu-check.sh [--download-debs | --pack | --rehearse])" >&2
    exit 2
    ;;
esac

rehearse=${GPU_CHECK_REHEARSE:-0}
prefix=${GPU_CHECK_PREFIX:-/tmp/gpu-check-prefix}
logs=${GPU_CHECK_LOGS:-/tmp/gpu-check}
budget=${GPU_CHECK_BUDGET_S:-480}
bench=${GPU_CHECK_BENCH:-1}
mkdir -p "$logs" "$prefix"
rm -f "$logs"/*.rc "$logs"/*.secs

if [[ $rehearse != 1 ]]; then
  command -v nvidia-smi >/dev/null 2>&1 || [[ -e /dev/nvidia0 ]] || fail "no NVIDIA GPU found (no nvidia-smi, no /dev/nvidia0)"
fi
python=${GPU_CHECK_PYTHON:-$(command -v python3 || true)}
[[ -n "$python" ]] || fail "no python3"
# Wheels carried for what the machine's python lacks (none today: KINDS.md lists torch and numpy).
if compgen -G "$CARRY/whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$prefix/site" "$CARRY"/whl/*.whl >"$logs/wheels.log" 2>&1 ||
    fail "installing the carried wheels failed (see $logs/wheels.log)"
  export PYTHONPATH="$prefix/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [[ $rehearse != 1 ]]; then
  "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null ||
    fail "python3 has no CUDA torch that sees a GPU (python3 -c 'import torch; print(torch.cuda.is_available())')"
else
  "$python" -c 'import torch' 2>/dev/null || fail "$python cannot import torch (PYTHONPATH=${PYTHONPATH:-})"
fi
# The Python references hand tensors over through numpy (a torch wheel does not bring it).
"$python" -c 'import numpy' 2>/dev/null || fail "python3 has no numpy, which the Python references need (pip install numpy)"
command -v g++ >/dev/null 2>&1 || fail "no g++ to build the addon"

# Node.js: the installed one when it is new enough, else (or with GPU_CHECK_NODE_FROM_DEBS=1) the
# carried .deb's files in $prefix/node (dpkg-deb -x, or ar and tar where dpkg-deb is missing).
node_new_enough() {
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 15) ? 0 : 1)' 2>/dev/null
}
node_from=$(command -v node || true)
if [[ ${GPU_CHECK_NODE_FROM_DEBS:-0} == 1 || -z $node_from ]] || ! node_new_enough; then
  deb=$(compgen -G "$CARRY/nodejs_*.deb" | head -1 || compgen -G '.debs/nodejs_*.deb' | head -1 || true)
  [[ -n $deb ]] || fail "no node, and no nodejs_*.deb in $CARRY/ or .debs/ to unpack it from (scripts/gpu-check.sh --pack where node is)"
  rm -rf "$prefix/node"
  mkdir -p "$prefix/node"
  if [[ ${GPU_CHECK_NO_DPKG:-0} != 1 ]] && command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$deb" "$prefix/node" || fail "dpkg-deb -x $deb failed"
    node_from="$deb (dpkg-deb -x)"
  else
    # binutils' ar, which every machine with g++ (required above) has: a .deb is an ar archive whose
    # data.tar.* member holds the files.
    node_from="$deb (ar + tar)"
    member=$(ar t "$deb" | grep -m1 '^data\.tar') || fail "$deb has no data.tar member (is it a .deb?)"
    case $member in
      *.xz) unzip_flag=-J ;; *.zst) unzip_flag=--zstd ;; *.gz) unzip_flag=-z ;; *) unzip_flag= ;;
    esac
    ar p "$deb" "$member" | tar -x $unzip_flag -C "$prefix/node" || fail "unpacking $member of $deb failed"
  fi
  export PATH="$prefix/node/usr/bin:$PATH"
  [[ $(command -v node) == "$prefix/node/usr/bin/node" ]] || fail "the node unpacked from $deb is not the one on PATH"
fi
node_new_enough || fail "node $(node --version) is older than package.json's engines (>= 20.15)"

# node_modules/: the carried packages where npm ci's are not here (the build needs
# node-addon-api and node-api-headers, the check's modules a few more).
if [[ ! -d node_modules/node-addon-api && -f $CARRY/node_modules.tar.gz ]]; then
  mkdir -p node_modules
  tar -xzf "$CARRY/node_modules.tar.gz" -C node_modules || fail "unpacking $CARRY/node_modules.tar.gz failed"
fi
[[ -d node_modules/node-addon-api && -d node_modules/node-api-headers ]] ||
  fail "node_modules/ (node-addon-api, node-api-headers) is missing (scripts/gpu-check.sh --pack, and carry $CARRY; or npm ci)"
# dist/: compiled here when typescript is installed, else the carried one, which must have been
# compiled from these very sources.
if [[ -d node_modules/typescript ]]; then
  node node_modules/typescript/bin/tsc -p tsconfig.json >"$logs/tsc.log" 2>&1 || fail "tsc failed (see $logs/tsc.log)"
elif [[ -f $CARRY/dist.tar.gz ]]; then
  rm -rf dist
  tar -xzf "$CARRY/dist.tar.gz" || fail "unpacking $CARRY/dist.tar.gz failed"
  node scripts/gpu-carry.mjs verify || exit 1
else
  [[ -f dist/test/ops.test.js ]] || fail "neither node_modules/typescript nor a compiled dist/ is here (scripts/gpu-check.sh --pack, and carry $CARRY)"
fi
# gloo's headers, for the addon's distributed training, when a carried copy is here.
if [[ -z ${CONSISTENCY_GLOO_INCLUDE:-} && -f $CARRY/gloo-include.tar.gz ]]; then
  mkdir -p "$prefix/include"
  tar -xzf "$CARRY/gloo-include.tar.gz" -C "$prefix/include" || fail "unpacking $CARRY/gloo-include.tar.gz failed"
  export CONSISTENCY_GLOO_INCLUDE="$prefix/include"
fi
# The CUDA toolkit's headers (ProcessGroupNCCL.hpp needs crt/host_config.h, which pip's CUDA lacks).
if [[ -z ${CUDA_HOME:-} ]] && command -v nvcc >/dev/null 2>&1; then
  CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
  export CUDA_HOME
fi

torch_dir=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
start=$SECONDS
CONSISTENCY_PYTHON="$python" LIBTORCH="$torch_dir" timeout -k 10 $((budget - SECONDS > 1 ? budget - SECONDS : 1)) node scripts/build-native.mjs >"$logs/build.log" 2>&1 ||
  fail "building the addon against $torch_dir failed (see $logs/build.log)"
echo $((SECONDS - start)) >"$logs/build.secs"
if [[ $rehearse != 1 ]]; then
  node -e 'import("./dist/src/tensor/native.js").then((m) => process.exit(m.native.buildInfo().cuda ? 0 : 1))' ||
    fail "the addon built against $torch_dir sees no GPU (see $logs/build.log)"
else
  node -e 'import("./dist/src/tensor/native.js").then((m) => process.exit(m.native.buildInfo() ? 0 : 1))' ||
    fail "the addon built against $torch_dir does not load (see $logs/build.log)"
fi

# The tests end by $deadline, leaving the benchmark its 150 s.
deadline=$((budget - (bench == 1 ? 150 : 0)))
run_one() {
  local name=$1 file=$2 device=$3 left=$((deadline - SECONDS)) start=$SECONDS rc=0
  if ((left < 10)); then
    echo "gpu-check: no time left for $name (GPU_CHECK_BUDGET_S=$budget)" >"$logs/$name.log"
    rc=124
  else
    CONSISTENCY_TEST_DEVICE=$device timeout -k 10 "$left" node --test --test-concurrency=1 "dist/test/$file.test.js" >"$logs/$name.log" 2>&1 || rc=$?
  fi
  echo "$rc" >"$logs/$name.rc"
  echo $((SECONDS - start)) >"$logs/$name.secs"
}
cuda_runs=()
cpu_runs=()
selected=()
for r in "${RUNS[@]}"; do
  IFS=: read -r name file device <<<"$r"
  [[ -z ${GPU_CHECK_RUNS:-} || " $GPU_CHECK_RUNS " == *" $name "* ]] || continue
  selected+=("$r")
  # A rehearsal runs the CUDA files on CPU, in the same two groups.
  [[ $rehearse != 1 ]] || r="${name}:${file}:cpu"
  if [[ $device == cuda ]]; then cuda_runs+=("$r"); else cpu_runs+=("$r"); fi
done
run_group() {
  local r name file device
  for r in "$@"; do
    IFS=: read -r name file device <<<"$r"
    run_one "$name" "$file" "$device"
  done
}
if [[ ${GPU_CHECK_PARALLEL:-$((rehearse == 1 ? 0 : 1))} == 1 ]]; then
  run_group "${cpu_runs[@]}" &
  run_group "${cuda_runs[@]}"
  wait
else
  run_group "${cuda_runs[@]}" "${cpu_runs[@]}"
fi
if [[ $bench == 1 ]]; then
  start=$SECONDS
  rc=0
  timeout -k 10 $((budget - SECONDS > 10 ? budget - SECONDS : 10)) node dist/bench/run.js cuda-step >"$logs/cuda-step.jsonl" 2>"$logs/cuda-step.log" || rc=$?
  echo "$rc" >"$logs/cuda-step.rc"
  echo $((SECONDS - start)) >"$logs/cuda-step.secs"
fi

# The one JSON line (and the exit status: any failure, or a skip in a CUDA run, is 1).
if [[ $rehearse == 1 ]]; then gpu="none (rehearsal)"; else gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true); fi
# shellcheck disable=SC2016 # the summary is JavaScript, its ${...} are its own
GPU_NAME=${gpu:-unknown} TORCH_VERSION=$("$python" -c 'import torch; print(torch.__version__)') RUNS="${selected[*]}" LOGS="$logs" \
  REHEARSE="$rehearse" BENCH="$bench" NODE_FROM="$node_from" TOTAL=$SECONDS node --input-type=module -e '
import { readFileSync, existsSync } from "node:fs";
const env = process.env;
const logs = env.LOGS;
const rehearse = env.REHEARSE === "1";
const read = (f) => (existsSync(`${logs}/${f}`) ? readFileSync(`${logs}/${f}`, "utf8") : "");
const num = (f) => (read(f).trim() === "" ? null : Number(read(f)));
const count = (text, key) => Number((new RegExp(`^# ${key} (\\d+)$`, "m").exec(text) ?? [])[1] ?? NaN);
let ok = true;
const tests = {};
for (const run of env.RUNS.split(" ").filter(Boolean)) {
  const [name, , device] = run.split(":");
  const text = read(`${name}.log`);
  const t = { tests: count(text, "tests"), pass: count(text, "pass"), fail: count(text, "fail"), skipped: count(text, "skipped") };
  const rc = num(`${name}.rc`);
  const cuda = device === "cuda" && !rehearse;
  const passed = rc === 0 && t.fail === 0 && t.pass > 0 && (!cuda || t.skipped === 0);
  if (!passed) ok = false;
  tests[name] = { status: passed ? "pass" : "fail", device: cuda ? "cuda" : "cpu", ...t, rc, seconds: num(`${name}.secs`) };
}
let cudaStep = [];
let cudaStepStatus = "skipped (GPU_CHECK_BENCH=0)";
if (env.BENCH === "1") {
  const lines = read("cuda-step.jsonl").trim().split("\n").filter(Boolean);
  try {
    cudaStep = lines.map((l) => JSON.parse(l));
  } catch {
    cudaStep = [];
  }
  const rc = num("cuda-step.rc");
  // Without a GPU the benchmark must stop at its one no-GPU line (proving that it loads).
  const passed = rehearse ? rc === 1 && /sees no CUDA GPU/.test(read("cuda-step.log")) : rc === 0 && cudaStep.length === 2;
  cudaStepStatus = passed ? (rehearse ? "pass (no GPU: stopped at its one line)" : "pass") : "fail";
  if (!passed) ok = false;
}
const build = read("build.log").match(/distributed training [^\n]*/)?.[0] ?? null;
const timings = { build: num("build.secs"), cuda_step: num("cuda-step.secs"), total: Number(env.TOTAL) };
console.log(
  JSON.stringify({
    gpu: env.GPU_NAME, torch: env.TORCH_VERSION, node: { version: process.version, from: env.NODE_FROM },
    ...(rehearse ? { rehearsal: true } : {}), ok, build, tests, cuda_step_status: cudaStepStatus, cuda_step: cudaStep, timings, logs,
  }),
);
process.exit(ok ? 0 : 1);
'

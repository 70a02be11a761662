// Data parallelism on libtorch's own distributed engine, c10d (issue 10): TCPStore rendezvous,
// ProcessGroupGloo (ProcessGroupNCCL when the libtorch has CUDA), broadcast, sum all-reduce,
// barrier, and the bucketed gradient all-reduce that overlaps the backward pass (see "bucketed
// gradient all-reduce" below for why not c10d::Reducer). Every collective is c10d's. A libtorch
// without c10d (CTS_HAVE_C10D unset by scripts/build-native.mjs) still builds; then every
// distributed entry point says so.

#include "binding.h"

#include <torch/version.h>

#include <chrono>
#include <memory>
#include <utility>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#if defined(CTS_HAVE_C10D)
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>
#if defined(CTS_HAVE_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace cts {

// ---- entry points: checked arguments in, one guard around ----
//
// Each entry point is a plain function of its arguments, already read and checked by their C++
// types (Read<T> below); ENTRY_POINT(name, "arg", ...) makes the N-API callback around
// impl::name: the argument count, each argument read in order (a wrong one is named), and the
// guard of binding.h that turns every C++ exception into one JS Error naming the call.

/** Read<T>::from(info, i, op, name): argument i as a T, or an ArgumentError naming it. */
template <typename T>
struct Read;
template <>
struct Read<std::string> {
  static std::string from(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) { return argString(info, i, op, name); }
};
template <>
struct Read<int64_t> {
  static int64_t from(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) { return argInt(info, i, op, name); }
};
template <>
struct Read<std::vector<at::Tensor>> {
  static std::vector<at::Tensor> from(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
    return argTensorList(info, i, op, name);
  }
};

template <typename... A, size_t... I>
static Napi::Value invoke(const Napi::CallbackInfo& info, const char* op, Napi::Value (*body)(Napi::Env, A...), const char* const* names,
                          std::index_sequence<I...>) {
  checkArgCount(info, sizeof...(A), op);
  std::tuple<A...> args{Read<A>::from(info, I, op, names[I])...};  // a braced list is read left to right
  return std::apply([&](A&... a) { return body(info.Env(), std::move(a)...); }, args);
}

/** Calls `body` with the checked arguments of `info`, one name per argument. */
template <size_t N, typename... A>
static Napi::Value invoke(const Napi::CallbackInfo& info, const char* op, Napi::Value (*body)(Napi::Env, A...), const char* const (&names)[N]) {
  static_assert(N == sizeof...(A), "ENTRY_POINT names one argument per parameter of its function");
  return invoke(info, op, body, names, std::index_sequence_for<A...>{});
}

static Napi::Value invoke(const Napi::CallbackInfo& info, const char* op, Napi::Value (*body)(Napi::Env)) {
  checkArgCount(info, 0, op);
  return body(info.Env());
}

#define ENTRY_POINT(NAME, ...)                                          \
  static Napi::Value NAME(const Napi::CallbackInfo& info) {             \
    Napi::Env env = info.Env();                                         \
    GUARD_BEGIN                                                         \
    return invoke(info, #NAME, impl::NAME __VA_OPT__(, {__VA_ARGS__})); \
    GUARD_END(#NAME)                                                    \
  }

#if defined(CTS_HAVE_C10D)

static const napi_type_tag kGroupTag = {0x6b1f0c2ad4e95b37ULL, 0x91c3e7a05f2d8b64ULL};
static const napi_type_tag kReducerTag = {0x2e8d4c71b09a3f56ULL, 0xc5a1f9e3470b6d28ULL};

/** One process group owned by JS: the TCPStore it met through and the c10d group. */
struct GroupBox {
  c10::intrusive_ptr<c10d::Store> store;      // the prefixed store the group uses (as init_process_group does)
  c10::intrusive_ptr<c10d::ProcessGroup> pg;  // what the collectives run on
  std::chrono::milliseconds timeout{60000};
  std::string backend;
};

/** The object behind a tagged External of JS; `open` says whether a closed one is an error. */
template <typename T>
static T* externalArg(const Napi::CallbackInfo& info, size_t i, const char* name, const napi_type_tag& tag, const char* what, bool open) {
  Napi::Value v = info[i];
  if (!v.IsExternal() || !v.As<Napi::External<T>>().CheckTypeTag(&tag)) throw ArgumentError(std::string("argument '") + name + "' must be a " + what);
  T* box = v.As<Napi::External<T>>().Data();
  if (open && !box->pg) throw ArgumentError(std::string("argument '") + name + "' is a closed " + what);
  return box;
}

/** A process group or gradient reducer that may already be closed (what the close calls take). */
template <typename T>
struct Closable {
  T* box;
};

/** What a JS External holding a T is: its type tag and how messages name it (one per box type). */
template <typename T>
struct BoxKind;
template <>
struct BoxKind<GroupBox> {
  static constexpr const napi_type_tag& tag = kGroupTag;
  static constexpr const char* what = "process group";
};

/** An open box argument (a closed one is an error), or a Closable one (what the close calls take). */
template <typename T>
struct Read<T*> {
  static T* from(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
    return externalArg<T>(info, i, name, BoxKind<T>::tag, BoxKind<T>::what, true);
  }
};
template <typename T>
struct Read<Closable<T>> {
  static Closable<T> from(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
    return {externalArg<T>(info, i, name, BoxKind<T>::tag, BoxKind<T>::what, false)};
  }
};
/** Waits for one collective, at most the group's timeout (a lost peer fails it, never hangs it). */
static void waitWork(const c10::intrusive_ptr<c10d::Work>& work, const GroupBox* g) {
  if (!work->wait(g->timeout)) throw std::runtime_error("timed out after " + std::to_string(g->timeout.count()) + " ms");
}

/** The Gloo transport device: an interface named by GLOO_SOCKET_IFNAME (as PyTorch reads it), the
 *  loopback address for a one-machine group on loopback, else the host's own address (c10d's default). */
static std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string& masterAddr) {
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname && *ifname) return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (masterAddr == "127.0.0.1" || masterAddr == "localhost" || masterAddr == "::1")
    return c10d::ProcessGroupGloo::createDeviceForHostname(masterAddr == "::1" ? masterAddr : "127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

static void checkCollectiveTensors(const std::vector<at::Tensor>& ts, const char* op) {
  if (ts.empty()) throw ArgumentError(std::string(op) + " needs at least one tensor");
  for (const at::Tensor& t : ts)
    if (!t.is_contiguous()) throw ArgumentError("the tensors must be contiguous (collectives write into them in place)");
}

// ---- bucketed gradient all-reduce ----
//
// c10d::Reducer (what DistributedDataParallel runs on) cannot be compiled against Debian's
// libtorch 1.13: its reducer.hpp includes torch/csrc/distributed/autograd/context/context.h,
// which libtorch-dev does not ship. So the same scheme is built from c10d's collectives and
// autograd's own hooks: a post hook on each parameter's gradient accumulator marks it ready;
// when every parameter of a bucket is ready, the bucket's gradients are flattened and its
// all-reduce starts at once (asynchronously, on Gloo's threads) while the backward goes on
// through the earlier layers. Buckets are filled in reverse parameter order, as DDP fills them,
// since gradients become ready from the last layer back.

// The owning pointer to a parameter's gradient accumulator: std::shared_ptr in torch 1.13,
// c10::intrusive_ptr in newer torch.
using AccumulatorPtr = decltype(torch::autograd::impl::grad_accumulator(std::declval<const at::Tensor&>()));

struct GradientBuckets {
  struct Bucket {
    std::vector<size_t> params;  // indices into `params`
    size_t pending = 0;          // parameters not yet ready in this backward
    at::Tensor flat;             // the gradients, flattened, being all-reduced
    c10::intrusive_ptr<c10d::Work> work;
  };
  GroupBox* group = nullptr;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;  // kept alive as long as the buckets
  std::vector<at::Tensor> params;
  std::vector<size_t> bucketOf;  // parameter index -> bucket index
  std::vector<Bucket> buckets;
  std::vector<std::pair<AccumulatorPtr, uintptr_t>> hooks;  // accumulators kept alive with our hook
  bool armed = false;
  std::string error;  // a failure inside a hook, reported by finish()

  void ready(size_t p) {
    if (!armed) return;  // a micro-batch whose gradients only accumulate locally
    Bucket& b = buckets[bucketOf[p]];
    if (b.pending == 0) {
      error = "parameter " + std::to_string(p) + " got its gradient twice in one backward";
      return;
    }
    if (--b.pending > 0) return;
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> pieces;
    pieces.reserve(b.params.size());
    for (size_t k : b.params) {
      const at::Tensor& g = params[k].grad();
      if (!g.defined()) {
        error = "parameter " + std::to_string(k) + " has no gradient after its accumulator ran";
        return;
      }
      pieces.push_back(g.reshape({-1}));
    }
    b.flat = at::cat(pieces);
    std::vector<at::Tensor> one = {b.flat};
    b.work = pg->allreduce(one, c10d::AllreduceOptions{});
  }

  void arm() {
    if (armed) throw std::runtime_error("armed twice without finishing the previous backward");
    for (Bucket& b : buckets) {
      b.pending = b.params.size();
      b.work.reset();
      b.flat = at::Tensor();
    }
    error.clear();
    armed = true;
  }

  /** Waits for every bucket and writes the sums back into .grad. */
  void finish() {
    if (!armed) throw std::runtime_error("finish without an armed backward");
    armed = false;
    if (!error.empty()) throw std::runtime_error(error);
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < buckets.size(); i++) {
      Bucket& b = buckets[i];
      if (b.pending != 0)
        throw std::runtime_error("bucket " + std::to_string(i) + " is incomplete: parameter " + std::to_string(b.params.front()) +
                                 " or another of its parameters got no gradient in this backward (every parameter must be used)");
      if (!b.work->wait(group->timeout)) throw std::runtime_error("gradient all-reduce timed out");
      int64_t offset = 0;
      for (size_t k : b.params) {
        at::Tensor g = params[k].mutable_grad();
        g.copy_(b.flat.narrow(0, offset, g.numel()).view_as(g));
        offset += g.numel();
      }
      b.work.reset();
      b.flat = at::Tensor();
    }
  }

  ~GradientBuckets() {
    for (auto& h : hooks) h.first->del_post_hook(h.second);
  }
};

struct ReadyHook : torch::autograd::FunctionPostHook {
  GradientBuckets* owner;
  size_t index;
  ReadyHook(GradientBuckets* o, size_t i) : owner(o), index(i) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) override {
    owner->ready(index);
    return outputs;
  }
};

template <>
struct BoxKind<GradientBuckets> {
  static constexpr const napi_type_tag& tag = kReducerTag;
  static constexpr const char* what = "gradient reducer";
};

/** A JS-owned External for a box, tagged so that no other External passes for it. */
template <typename T>
static Napi::Value wrapBox(Napi::Env env, std::unique_ptr<T> box, const napi_type_tag& tag) {
  auto ext = Napi::External<T>::New(env, box.release(), [](Napi::Env, T* b) { delete b; });
  ext.TypeTag(&tag);
  return ext;
}

namespace impl {

// distInit(masterAddr, masterPort, rank, worldSize, timeoutMs, backend, agentStoreAttempt): rank
// 0 hosts the TCPStore and waits for all ranks to arrive; every rank then builds the group on the
// store's "default_pg" prefix, as torch.distributed.init_process_group does, so Python ranks can
// join. Under torchrun's elastic agent (agentStoreAttempt >= 0: TORCHELASTIC_RESTART_COUNT) the
// agent already hosts the store on that port: every rank is then a client of it, as
// torch/distributed/rendezvous.py's _create_c10d_store makes one: before torch 2.5 under the
// prefix "/worker/attempt_<N>", from 2.5 on (a fresh agent store per restart) without one.
static Napi::Value distInit(Napi::Env env, std::string addr, int64_t port, int64_t rank, int64_t world, int64_t timeoutMs, std::string backend,
                            int64_t agentAttempt) {
  if (port < 1 || port > 65535) throw ArgumentError("argument 'masterPort' must be in 1..65535, got " + std::to_string(port));
  if (world < 1 || world > 65536) throw ArgumentError("argument 'worldSize' must be in 1..65536, got " + std::to_string(world));
  if (rank < 0 || rank >= world) throw ArgumentError("argument 'rank' must be in 0.." + std::to_string(world - 1) + ", got " + std::to_string(rank));
  if (timeoutMs < 1) throw ArgumentError("argument 'timeoutMs' must be positive");
  if (backend != "gloo" && backend != "nccl") throw ArgumentError("argument 'backend' must be 'gloo' or 'nccl', got '" + backend + "'");
  if (agentAttempt < -1) throw ArgumentError("argument 'agentStoreAttempt' must be -1 (no agent store) or a restart count, got " + std::to_string(agentAttempt));
#if !defined(CTS_HAVE_NCCL)
  if (backend == "nccl") throw ArgumentError("backend 'nccl' asked for, but this libtorch has no NCCL (a CUDA libtorch has it)");
#endif
  const bool agentStore = agentAttempt >= 0;
  auto box = std::make_unique<GroupBox>();
  box->timeout = std::chrono::milliseconds(timeoutMs);
  box->backend = backend;
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(port);
  opts.isServer = rank == 0 && !agentStore;
  opts.numWorkers = static_cast<std::size_t>(world);
  opts.waitWorkers = true;
  opts.timeout = box->timeout;
  opts.multiTenant = !agentStore;  // as Python's env:// rendezvous creates it
  c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(addr, opts);
#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 5)
  if (agentStore) tcp = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(agentAttempt), tcp);
#endif
  // The store keys of init_process_group's default group, so Python ranks can join:
  // PrefixStore("default_pg", store), then the group's name ("0", the first group count of
  // torch/distributed/distributed_c10d.py); torch 2.x names it "0/" and gives each backend a
  // device prefix ("cpu/", "cuda/") of its own.
  c10::intrusive_ptr<c10d::Store> defaultPg = c10::make_intrusive<c10d::PrefixStore>("default_pg", tcp);
  const int r = static_cast<int>(rank), n = static_cast<int>(world);
#if TORCH_VERSION_MAJOR >= 2
  box->store = c10::make_intrusive<c10d::PrefixStore>("0/", defaultPg);
  // torch 2.x: the collectives live in a Backend that a ProcessGroup dispatches to.
  c10::intrusive_ptr<c10d::Backend> backendImpl;
  auto deviceType = c10::DeviceType::CPU;
  auto backendType = c10d::ProcessGroup::BackendType::GLOO;
#if defined(CTS_HAVE_NCCL)
  if (backend == "nccl") {
    auto nopts = c10d::ProcessGroupNCCL::Options::create();
    nopts->timeout = box->timeout;
    backendImpl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("cuda/", box->store), r, n, nopts);
    deviceType = c10::DeviceType::CUDA;
    backendType = c10d::ProcessGroup::BackendType::NCCL;
  }
#endif
  if (!backendImpl) {
    auto gopts = c10d::ProcessGroupGloo::Options::create(box->timeout);
    gopts->devices.push_back(glooDevice(addr));
    backendImpl = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("cpu/", box->store), r, n, gopts);
  }
  box->pg = c10::make_intrusive<c10d::ProcessGroup>(box->store, r, n);
  box->pg->setBackend(deviceType, backendType, backendImpl);
  box->pg->setDefaultBackend(backendType);
  // torch 2.x's init_process_group no longer ends with a store-based barrier (unless
  // TORCH_DIST_INIT_BARRIER=1); Gloo's own rendezvous above already waited for every rank.
#else
  box->store = c10::make_intrusive<c10d::PrefixStore>("0", defaultPg);
#if defined(CTS_HAVE_NCCL)
  if (backend == "nccl") {
    auto nopts = c10d::ProcessGroupNCCL::Options::create();
    nopts->timeout = box->timeout;
    box->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(box->store, r, n, nopts);
  }
#endif
  if (!box->pg) {
    auto gopts = c10d::ProcessGroupGloo::Options::create(box->timeout);
    gopts->devices.push_back(glooDevice(addr));
    box->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(box->store, r, n, gopts);
  }
  // torch 1.13's init_process_group then waits until every rank has built its group, counting on
  // the key "store_based_barrier_key:1" of the default_pg store (_store_based_barrier) ...
  const std::string barrierKey = "store_based_barrier_key:1";
  defaultPg->add(barrierKey, 1);
  const auto deadline = std::chrono::steady_clock::now() + box->timeout;
  while (defaultPg->add(barrierKey, 0) < world) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("timed out in the store-based barrier that ends the rendezvous");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // ... and rank 0 hands every rank the group's first collective sequence number.
  box->pg->setSequenceNumberForGroup();
#endif
  return wrapBox(env, std::move(box), kGroupTag);
}

static Napi::Value distClose(Napi::Env env, Closable<GroupBox> group) {
  group.box->pg.reset();  // joins Gloo's worker threads now, not at garbage collection
  group.box->store.reset();
  return env.Undefined();
}

static Napi::Value distStoreSet(Napi::Env env, GroupBox* g, std::string key, std::string value) {
  g->store->set("cts/" + key, std::vector<uint8_t>(value.begin(), value.end()));
  return env.Undefined();
}

// distStoreGet(group, key): waits (at most the group's timeout) until some rank has set the key.
static Napi::Value distStoreGet(Napi::Env env, GroupBox* g, std::string key) {
  key = "cts/" + key;
  g->store->wait({key}, g->timeout);
  std::vector<uint8_t> value = g->store->get(key);
  return Napi::String::New(env, std::string(value.begin(), value.end()));
}

// distBroadcast(group, tensors, root): overwrites the tensors in place with the root rank's.
static Napi::Value distBroadcast(Napi::Env env, GroupBox* g, std::vector<at::Tensor> ts, int64_t root) {
  if (root < 0 || root >= g->pg->getSize()) throw ArgumentError("argument 'root' must be a rank of the group");
  checkCollectiveTensors(ts, "distBroadcast");
  at::NoGradGuard noGrad;  // parameters are leaves that require grad; the copy is no autograd op
  for (at::Tensor& t : ts) {
    std::vector<at::Tensor> one = {t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    waitWork(g->pg->broadcast(one, o), g);
  }
  return env.Undefined();
}

// distAllReduceSum(group, tensors): each tensor becomes, in place, its sum over ranks.
static Napi::Value distAllReduceSum(Napi::Env env, GroupBox* g, std::vector<at::Tensor> ts) {
  checkCollectiveTensors(ts, "distAllReduceSum");
  at::NoGradGuard noGrad;
  for (at::Tensor& t : ts) {
    std::vector<at::Tensor> one = {t};
    waitWork(g->pg->allreduce(one, c10d::AllreduceOptions{}), g);
  }
  return env.Undefined();
}

static Napi::Value distBarrier(Napi::Env env, GroupBox* g) {
  waitWork(g->pg->barrier(), g);
  return env.Undefined();
}

// distReducerNew(group, params, bucketCapBytes): hooks the parameters' gradient accumulators.
static Napi::Value distReducerNew(Napi::Env env, GroupBox* g, std::vector<at::Tensor> params, int64_t cap) {
  if (params.empty()) throw ArgumentError("argument 'params' must not be empty");
  if (cap < 1) throw ArgumentError("argument 'bucketCapBytes' must be positive");
  for (const at::Tensor& p : params) {
    if (!p.requires_grad() || !p.is_leaf()) throw ArgumentError("every parameter must be a leaf tensor that requires grad");
    if (p.scalar_type() != params.front().scalar_type() || p.device() != params.front().device())
      throw ArgumentError("every parameter must have the same dtype and device");
  }
  auto box = std::make_unique<GradientBuckets>();
  box->group = g;
  box->pg = g->pg;
  box->params = params;
  box->bucketOf.assign(params.size(), 0);
  // DDP's sizes: a small first bucket (1 MiB) so communication starts early, then bucketCapBytes.
  const int64_t firstCap = std::min<int64_t>(cap, 1 << 20);
  int64_t bytes = 0;
  for (size_t k = params.size(); k-- > 0;) {
    if (box->buckets.empty() || bytes >= (box->buckets.size() == 1 ? firstCap : cap)) {
      box->buckets.emplace_back();
      bytes = 0;
    }
    box->buckets.back().params.push_back(k);
    box->bucketOf[k] = box->buckets.size() - 1;
    bytes += params[k].numel() * params[k].element_size();
  }
  for (size_t k = 0; k < params.size(); k++) {
    AccumulatorPtr acc = torch::autograd::impl::grad_accumulator(params[k]);
    if (!acc) throw ArgumentError("parameter " + std::to_string(k) + " has no gradient accumulator");
    uintptr_t key = acc->add_post_hook(std::make_unique<ReadyHook>(box.get(), k));
    box->hooks.emplace_back(std::move(acc), key);
  }
  return wrapBox(env, std::move(box), kReducerTag);
}

// distReducerArm(reducer): the next backward all-reduces (call before this rank's last
// micro-batch's backward); backwards without it only accumulate locally.
static Napi::Value distReducerArm(Napi::Env env, GradientBuckets* r) {
  r->arm();
  return env.Undefined();
}

// distReducerFinish(reducer): after that backward, waits for every bucket; .grad = sum over ranks.
static Napi::Value distReducerFinish(Napi::Env env, GradientBuckets* r) {
  r->finish();
  return env.Undefined();
}

// distReducerBuckets(reducer): the parameter indices of each bucket, in all-reduce order.
static Napi::Value distReducerBuckets(Napi::Env env, GradientBuckets* r) {
  Napi::Array out = Napi::Array::New(env, r->buckets.size());
  for (size_t i = 0; i < r->buckets.size(); i++) {
    Napi::Array b = Napi::Array::New(env, r->buckets[i].params.size());
    for (size_t k = 0; k < r->buckets[i].params.size(); k++) b.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>(r->buckets[i].params[k])));
    out.Set(static_cast<uint32_t>(i), b);
  }
  return out;
}

static Napi::Value distReducerClose(Napi::Env env, Closable<GradientBuckets> reducer) {
  GradientBuckets* r = reducer.box;
  for (auto& h : r->hooks) h.first->del_post_hook(h.second);  // the parameters' backward is plain again
  r->hooks.clear();
  r->buckets.clear();
  r->params.clear();
  r->pg.reset();
  return env.Undefined();
}

}  // namespace impl

ENTRY_POINT(distInit, "masterAddr", "masterPort", "rank", "worldSize", "timeoutMs", "backend", "agentStoreAttempt")
ENTRY_POINT(distClose, "group")
ENTRY_POINT(distStoreSet, "group", "key", "value")
ENTRY_POINT(distStoreGet, "group", "key")
ENTRY_POINT(distBroadcast, "group", "tensors", "root")
ENTRY_POINT(distAllReduceSum, "group", "tensors")
ENTRY_POINT(distBarrier, "group")
ENTRY_POINT(distReducerNew, "group", "params", "bucketCapBytes")
ENTRY_POINT(distReducerArm, "reducer")
ENTRY_POINT(distReducerFinish, "reducer")
ENTRY_POINT(distReducerBuckets, "reducer")
ENTRY_POINT(distReducerClose, "reducer")

#endif  // CTS_HAVE_C10D

namespace impl {
static Napi::Value distInfo(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#if defined(CTS_HAVE_C10D)
  const bool c10d = true;
#else
  const bool c10d = false;
#endif
#if defined(CTS_HAVE_NCCL)
  const bool nccl = true;
#else
  const bool nccl = false;
#endif
  o.Set("c10d", Napi::Boolean::New(env, c10d));
  o.Set("gloo", Napi::Boolean::New(env, c10d));
  o.Set("nccl", Napi::Boolean::New(env, nccl));
  return o;
}
}  // namespace impl

ENTRY_POINT(distInfo)

#if !defined(CTS_HAVE_C10D)
// Without c10d every distributed entry point fails with one message that says why.
static Napi::Value unavailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  throw std::runtime_error("distributed training needs libtorch's c10d with Gloo, which this addon was built without "
                           "(Debian: apt-get install libgloo-dev, then npm run build:native)");
  GUARD_END("distributed")
}
#endif

void registerDistributedOps(Napi::Env env, Napi::Object exports) {
  exports.Set("distInfo", Napi::Function::New(env, distInfo, "distInfo"));
  const char* names[] = {"distInit", "distClose", "distStoreSet", "distStoreGet", "distBroadcast", "distAllReduceSum",
                         "distBarrier", "distReducerNew", "distReducerArm", "distReducerFinish", "distReducerBuckets", "distReducerClose"};
#if defined(CTS_HAVE_C10D)
  Napi::Function::Callback fns[] = {distInit, distClose, distStoreSet, distStoreGet, distBroadcast, distAllReduceSum,
                                    distBarrier, distReducerNew, distReducerArm, distReducerFinish, distReducerBuckets, distReducerClose};
  for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) exports.Set(names[k], Napi::Function::New(env, fns[k], names[k]));
#else
  for (const char* n : names) exports.Set(n, Napi::Function::New(env, unavailable, n));
#endif
}

}  // namespace cts

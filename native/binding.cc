// The hand-written part of the addon: handles and their lifetime, argument checks, data copies
// in and out, generators and their state, autograd mode, threads, build facts. The repetitive
// op bindings are generated into ops.generated.cc from ops.table.
#include "binding.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// The fingerprint of native/'s sources this addon was built from (scripts/build-native.mjs);
// src/tensor/native.ts refuses an addon whose fingerprint is not that of the sources beside it.
#if !defined(CTS_SOURCE_HASH)
#error "CTS_SOURCE_HASH is unset: build the addon with scripts/build-native.mjs (npm run build:native)"
#endif

namespace cts {

// A type tag lets every call verify that a generator External really is one of ours.
static const napi_type_tag kGeneratorTag = {0x1d9e6a3b7c2f4e85ULL, 0xa4c0b7d2e9f13567ULL};

static std::atomic<int64_t> gLiveTensors{0};
static bool gMallocTuned = false;  // see "Heap tuning" below

// ---------------------------------------------------------------------------------------------
// Tensor handles
//
// Tensors live in a table per Node environment (main thread or worker). A JS tensor handle is a
// number: 2^52 + generation * 2^24 + slot index (generation 28 bits, index 24 bits), an integer
// that a double holds exactly. Creating a handle allocates at most a heap number: no object, no
// type tag, no Node-API reference or weak handle for the garbage collector to track; checking
// one is a table lookup. (Handles as napi_wrap'ed tagged objects cost about a third of the time
// of a small op, bench/engine.ts small-op chain.) Numbers below 2^52 are never handles, so a
// stray number argument fails as "must be a tensor"; the generation goes up each time a slot is
// freed, so a disposed handle fails as disposed even after its slot is reused.
// dispose() frees the tensor at once. The garbage-collection backstop for tensors never disposed
// is on the JS side (src/tensor/tensor.ts), and the whole table goes with its environment.

static constexpr uint64_t kSlotBits = 24;
static constexpr uint64_t kSlotMask = (1ULL << kSlotBits) - 1;
static constexpr uint64_t kGenerationMask = (1ULL << 28) - 1;
static constexpr double kHandleBase = 4503599627370496.0;  // 2^52
static constexpr double kHandleEnd = 9007199254740992.0;   // 2^53

struct TensorTable {
  struct Slot {
    at::Tensor tensor;
    uint32_t generation = 0;  // 28 bits, wrapping
    bool live = false;
  };
  std::deque<Slot> slots;  // a deque: references to slots stay valid while it grows
  std::vector<uint32_t> freeSlots;

  ~TensorTable() {
    for (const Slot& s : slots)
      if (s.live) gLiveTensors.fetch_sub(1, std::memory_order_relaxed);
  }
};

static TensorTable& tensorTable(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok || data == nullptr) throw std::runtime_error("the addon's tensor table is missing");
  return *static_cast<TensorTable*>(data);
}

enum class HandleState { NotAHandle, Disposed, Live };

/** What `v` is: a live tensor handle (then `*out` is its slot, `*outIndex` its index), a
 *  disposed one, or no handle. */
static bool inHandleRange(double d) { return d >= kHandleBase && d < kHandleEnd; }

static HandleState lookupHandle(napi_env env, napi_value v, TensorTable::Slot** out, uint32_t* outIndex = nullptr) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !inHandleRange(d)) return HandleState::NotAHandle;
  const uint64_t code = static_cast<uint64_t>(d - kHandleBase);  // exact: every double in range is an integer
  TensorTable& table = tensorTable(env);
  const uint64_t index = code & kSlotMask;
  const uint32_t generation = static_cast<uint32_t>(code >> kSlotBits);
  if (index >= table.slots.size()) return HandleState::NotAHandle;
  TensorTable::Slot& slot = table.slots[index];
  if (!slot.live || slot.generation != generation) return HandleState::Disposed;
  *out = &slot;
  if (outIndex) *outIndex = static_cast<uint32_t>(index);
  return HandleState::Live;
}

// ---------------------------------------------------------------------------------------------
// Arguments

static std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber() && inHandleRange(v.As<Napi::Number>().DoubleValue())) return "native handle of another kind";  // a tensor handle
  if (v.IsNumber()) {
    // %.15g prints 2.5 as "2.5" (std::to_string would say "2.500000").
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v.As<Napi::Number>().DoubleValue());
    return std::string("number ") + buf;
  }
  if (v.IsBoolean()) return "boolean";
  if (v.IsString()) return "string";
  if (v.IsArray()) return "array";
  if (v.IsExternal()) return "native handle of another kind";
  if (v.IsFunction()) return "function";
  return "object";
}

[[noreturn]] static void fail(const char* name, const std::string& expected, const Napi::Value& got) {
  throw ArgumentError(std::string("argument '") + name + "' must be " + expected + ", got " + describe(got));
}

void checkArgCount(const Napi::CallbackInfo& info, size_t n, const char* op) {
  if (info.Length() != n)
    throw ArgumentError("expected " + std::to_string(n) + " arguments, got " + std::to_string(info.Length()));
  (void)op;
}

/** The tensor of a live handle; `what` is the expectation named when `v` is no handle. */
static const at::Tensor& tensorOf(const Napi::Value& v, const char* name, const char* what = "a tensor") {
  TensorTable::Slot* slot = nullptr;
  switch (lookupHandle(v.Env(), v, &slot)) {
    case HandleState::Live:
      return slot->tensor;
    case HandleState::Disposed:
      throw ArgumentError(std::string("argument '") + name + "' is a disposed tensor");
    default:
      fail(name, what, v);
  }
}

const at::Tensor& argTensor(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  return tensorOf(info[i], name);
}

c10::optional<at::Tensor> argOptTensor(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return c10::nullopt;
  return tensorOf(info[i], name);
}

std::vector<at::Tensor> argTensorList(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  if (!info[i].IsArray()) fail(name, "an array of tensors", info[i]);
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) {
    const std::string what = "an array of tensors (element " + std::to_string(k) + ")";
    out.push_back(tensorOf(a.Get(k), name, what.c_str()));
  }
  return out;
}

static int64_t toInt(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) fail(name, "an integer", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740992.0) fail(name, "an integer", v);
  return static_cast<int64_t>(d);
}

int64_t argInt(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) { return toInt(info[i], name); }

c10::optional<int64_t> argOptInt(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return c10::nullopt;
  return toInt(info[i], name);
}

std::vector<int64_t> argIntList(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  if (!info[i].IsArray()) fail(name, "an array of integers", info[i]);
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) out[k] = toInt(a.Get(k), name);
  return out;
}

double argDouble(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  if (!info[i].IsNumber()) fail(name, "a number", info[i]);
  return info[i].As<Napi::Number>().DoubleValue();
}

c10::optional<double> argOptDouble(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return c10::nullopt;
  return argDouble(info, i, op, name);
}

// JS numbers do not say whether they are ints or floats. An integral value becomes an integer
// Scalar, as Python passes `2` in `t + 2`, so int64 tensors stay int64 (a double Scalar would
// promote them to float32); other values, -0 and integers beyond 2^53 stay doubles.
at::Scalar argScalar(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  double d = argDouble(info, i, op, name);
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= 9007199254740992.0 && !(d == 0.0 && std::signbit(d)))
    return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

c10::optional<at::Scalar> argOptScalar(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return c10::nullopt;
  return argScalar(info, i, op, name);
}

bool argBool(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  if (!info[i].IsBoolean()) fail(name, "a boolean", info[i]);
  return info[i].As<Napi::Boolean>().Value();
}

at::ScalarType argDtype(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  int64_t code = toInt(info[i], name);
  switch (code) {
    case static_cast<int64_t>(at::kByte):
    case static_cast<int64_t>(at::kChar):
    case static_cast<int64_t>(at::kShort):
    case static_cast<int64_t>(at::kInt):
    case static_cast<int64_t>(at::kLong):
    case static_cast<int64_t>(at::kHalf):
    case static_cast<int64_t>(at::kFloat):
    case static_cast<int64_t>(at::kDouble):
    case static_cast<int64_t>(at::kBool):
    case static_cast<int64_t>(at::kBFloat16):
      return static_cast<at::ScalarType>(code);
    default:
      throw ArgumentError(std::string("argument '") + name + "' is not a supported dtype code: " + std::to_string(code));
  }
}

at::Device argDevice(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  if (!info[i].IsString()) fail(name, "a device string such as 'cpu' or 'cuda:0'", info[i]);
  std::string s = info[i].As<Napi::String>().Utf8Value();
  try {
    at::Device d(s);
    if (d.is_cuda() && !at::hasCUDA())
      throw ArgumentError(std::string("argument '") + name + "': device '" + s + "' asked for, but this libtorch has no CUDA (or no GPU is visible)");
    if (!d.is_cpu() && !d.is_cuda())
      throw ArgumentError(std::string("argument '") + name + "': only 'cpu' and 'cuda[:N]' devices are supported, got '" + s + "'");
    return d;
  } catch (const c10::Error&) {
    throw ArgumentError(std::string("argument '") + name + "' is not a device string: '" + s + "'");
  }
}

GeneratorBox* argGenerator(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsExternal() || !v.As<Napi::External<GeneratorBox>>().CheckTypeTag(&kGeneratorTag)) fail(name, "a generator", v);
  return v.As<Napi::External<GeneratorBox>>().Data();
}

c10::optional<at::Generator> argOptGenerator(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return c10::nullopt;
  return argGenerator(info, i, op, name)->generator;
}

std::string argString(const Napi::CallbackInfo& info, size_t i, const char*, const char* name) {
  if (!info[i].IsString()) fail(name, "a string", info[i]);
  return info[i].As<Napi::String>().Utf8Value();
}

// ---------------------------------------------------------------------------------------------
// Handles

Napi::Value wrapTensor(Napi::Env env, at::Tensor t) {
  TensorTable& table = tensorTable(env);
  uint32_t index;
  if (!table.freeSlots.empty()) {
    index = table.freeSlots.back();
    table.freeSlots.pop_back();
  } else {
    if (table.slots.size() > kSlotMask) throw std::runtime_error("more than 16,777,215 live tensors: dispose some (tidy)");
    index = static_cast<uint32_t>(table.slots.size());
    table.slots.emplace_back();
  }
  TensorTable::Slot& slot = table.slots[index];
  const uint64_t code = (static_cast<uint64_t>(slot.generation) << kSlotBits) | index;
  napi_value handle;
  if (napi_create_double(env, kHandleBase + static_cast<double>(code), &handle) != napi_ok) {
    table.freeSlots.push_back(index);
    throw std::runtime_error("cannot create a tensor handle");
  }
  slot.tensor = std::move(t);
  slot.live = true;
  gLiveTensors.fetch_add(1, std::memory_order_relaxed);
  return Napi::Value(env, handle);
}

Napi::Value wrapTensorList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t k = 0; k < ts.size(); k++) a.Set(static_cast<uint32_t>(k), wrapTensor(env, ts[k]));
  return a;
}

static Napi::Value wrapGenerator(Napi::Env env, at::Generator g) {
  auto ext = Napi::External<GeneratorBox>::New(env, new GeneratorBox{std::move(g)},
                                                [](Napi::Env, GeneratorBox* b) { delete b; });
  ext.TypeTag(&kGeneratorTag);
  return ext;
}

// ---------------------------------------------------------------------------------------------
// Helpers used by ops.table

at::Tensor dropoutWithGenerator(const at::Tensor& input, double p, bool train, const c10::optional<at::Generator>& gen) {
  if (!(p >= 0.0 && p < 1.0)) throw ArgumentError("argument 'p' must be in [0, 1), got " + std::to_string(p));
  if (!train || p == 0.0) return input;
  // The mask comes from the given generator, so two passes that restore the same generator
  // state see the same mask (docs/method.md section 4: shared dropout masks for student and teacher).
  at::Tensor keep = at::empty_like(input).bernoulli_(1.0 - p, gen);
  return input * keep * (1.0 / (1.0 - p));
}

at::Tensor attentionForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const c10::optional<at::Tensor>& mask) {
  if (q.dim() < 2 || k.dim() != q.dim() || v.dim() != q.dim())
    throw ArgumentError("query, key and value must have the same rank (at least 2)");
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, mask);
#else
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;
  if (mask) {
    if (mask->scalar_type() == at::kBool) scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<double>::infinity());
    else scores = scores + *mask;
  }
  return at::matmul(at::softmax(scores, -1), v);
#endif
}

// ---------------------------------------------------------------------------------------------
// Hand-written entry points

#define ENTRY(NAME) static Napi::Value NAME(const Napi::CallbackInfo& info)

ENTRY(dispose) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "dispose");
  TensorTable::Slot* slot = nullptr;
  uint32_t index = 0;
  HandleState state = lookupHandle(env, info[0], &slot, &index);
  if (state == HandleState::NotAHandle) fail("tensor", "a tensor", info[0]);
  if (state == HandleState::Disposed) return Napi::Boolean::New(env, false);
  TensorTable& table = tensorTable(env);
  slot->tensor = at::Tensor();  // frees the storage now when this was its last reference
  slot->live = false;
  slot->generation = (slot->generation + 1) & kGenerationMask;  // every handle to this slot is now a disposed one
  table.freeSlots.push_back(index);
  gLiveTensors.fetch_sub(1, std::memory_order_relaxed);
  return Napi::Boolean::New(env, true);
  GUARD_END("dispose")
}

ENTRY(liveTensors) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  return Napi::Number::New(env, static_cast<double>(gLiveTensors.load()));
  GUARD_END("liveTensors")
}

ENTRY(shape) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "shape");
  const at::Tensor& t = argTensor(info, 0, "shape", "tensor");
  Napi::Array a = Napi::Array::New(env, t.dim());
  for (int64_t d = 0; d < t.dim(); d++) a.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(t.size(d))));
  return a;
  GUARD_END("shape")
}

ENTRY(dtype) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "dtype");
  return Napi::Number::New(env, static_cast<double>(argTensor(info, 0, "dtype", "tensor").scalar_type()));
  GUARD_END("dtype")
}

ENTRY(device) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "device");
  return Napi::String::New(env, argTensor(info, 0, "device", "tensor").device().str());
  GUARD_END("device")
}


// fromBuffer(bytes: ArrayBufferView, dtype, shape, device): copies the bytes into a new tensor.
ENTRY(fromBuffer) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 4, "fromBuffer");
  if (!info[0].IsTypedArray() && !info[0].IsDataView() && !info[0].IsBuffer())
    fail("data", "a TypedArray, Buffer or DataView", info[0]);
  at::ScalarType dtype = argDtype(info, 1, "fromBuffer", "dtype");
  std::vector<int64_t> shape = argIntList(info, 2, "fromBuffer", "shape");
  at::Device device = argDevice(info, 3, "fromBuffer", "device");
  const uint8_t* src = nullptr;
  size_t nbytes = 0;
  if (info[0].IsTypedArray()) {
    auto ta = info[0].As<Napi::TypedArray>();
    src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    nbytes = ta.ByteLength();
  } else {
    auto dv = info[0].As<Napi::DataView>();
    src = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    nbytes = dv.ByteLength();
  }
  int64_t numel = 1;
  for (int64_t s : shape) {
    if (s < 0) throw ArgumentError("argument 'shape' has a negative size " + std::to_string(s));
    if (s > 0 && numel > std::numeric_limits<int64_t>::max() / s) throw ArgumentError("argument 'shape' is too large");
    numel *= s;
  }
  size_t want = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (want != nbytes)
    throw ArgumentError("shape [" + c10::Join(", ", shape) + "] of " + std::string(c10::toString(dtype)) + " needs " +
                        std::to_string(want) + " bytes, the data has " + std::to_string(nbytes));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (nbytes) std::memcpy(t.data_ptr(), src, nbytes);
  if (!device.is_cpu()) t = t.to(device);
  return wrapTensor(env, std::move(t));
  GUARD_END("fromBuffer")
}

// toBuffer(tensor): a new ArrayBuffer with the tensor's values, contiguous, in its dtype.
ENTRY(toBuffer) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "toBuffer");
  at::Tensor t = argTensor(info, 0, "toBuffer", "tensor").detach().to(at::kCPU).contiguous();
  size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, nbytes);
  if (nbytes) std::memcpy(buf.Data(), t.data_ptr(), nbytes);
  return buf;
  GUARD_END("toBuffer")
}

ENTRY(scalarTensor) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 3, "scalarTensor");
  double v = argDouble(info, 0, "scalarTensor", "value");
  at::ScalarType dtype = argDtype(info, 1, "scalarTensor", "dtype");
  at::Device device = argDevice(info, 2, "scalarTensor", "device");
  return wrapTensor(env, at::scalar_tensor(v, at::TensorOptions().dtype(dtype).device(device)));
  GUARD_END("scalarTensor")
}

// ---- generators ----

static uint64_t argSeed(const Napi::CallbackInfo& info, size_t i, const char* name) {
  int64_t s = toInt(info[i], name);
  if (s < 0) throw ArgumentError(std::string("argument '") + name + "' must be a non-negative integer seed");
  return static_cast<uint64_t>(s);
}

ENTRY(generatorNew) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 2, "generatorNew");
  at::Device device = argDevice(info, 0, "generatorNew", "device");
  uint64_t seed = argSeed(info, 1, "seed");
  // A fresh generator of the device's kind: clone the default one, then reseed it.
  at::Generator def = device.is_cpu() ? at::detail::getDefaultCPUGenerator()
                                      : at::globalContext().defaultGenerator(device);
  at::Generator g;
  {
    std::lock_guard<std::mutex> lock(def.mutex());
    g = def.clone();
  }
  {
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
  }
  return wrapGenerator(env, std::move(g));
  GUARD_END("generatorNew")
}

ENTRY(defaultGenerator) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "defaultGenerator");
  at::Device device = argDevice(info, 0, "defaultGenerator", "device");
  return wrapGenerator(env, device.is_cpu() ? at::detail::getDefaultCPUGenerator() : at::globalContext().defaultGenerator(device));
  GUARD_END("defaultGenerator")
}

ENTRY(generatorManualSeed) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 2, "generatorManualSeed");
  GeneratorBox* g = argGenerator(info, 0, "generatorManualSeed", "generator");
  uint64_t seed = argSeed(info, 1, "seed");
  std::lock_guard<std::mutex> lock(g->generator.mutex());
  g->generator.set_current_seed(seed);
  return env.Undefined();
  GUARD_END("generatorManualSeed")
}

ENTRY(generatorGetState) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "generatorGetState");
  GeneratorBox* g = argGenerator(info, 0, "generatorGetState", "generator");
  std::lock_guard<std::mutex> lock(g->generator.mutex());
  return wrapTensor(env, g->generator.get_state());
  GUARD_END("generatorGetState")
}

ENTRY(generatorSetState) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 2, "generatorSetState");
  GeneratorBox* g = argGenerator(info, 0, "generatorSetState", "generator");
  const at::Tensor& state = argTensor(info, 1, "generatorSetState", "state");
  if (state.scalar_type() != at::kByte || state.dim() != 1 || !state.device().is_cpu())
    throw ArgumentError("argument 'state' must be a 1-D uint8 CPU tensor from generatorGetState");
  std::lock_guard<std::mutex> lock(g->generator.mutex());
  g->generator.set_state(state);
  return env.Undefined();
  GUARD_END("generatorSetState")
}

ENTRY(manualSeed) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "manualSeed");
  uint64_t seed = argSeed(info, 0, "seed");
  {
    at::Generator g = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_current_seed(seed);
  }
  if (at::hasCUDA()) {
    int n = at::detail::getCUDAHooks().getNumGPUs();
    for (int d = 0; d < n; d++) {
      at::Generator g = at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(d)));
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_current_seed(seed);
    }
  }
  return env.Undefined();
  GUARD_END("manualSeed")
}

// ---- autograd mode, threads, build facts ----

ENTRY(setGradEnabled) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "setGradEnabled");
  bool enabled = argBool(info, 0, "setGradEnabled", "enabled");
  bool previous = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(enabled);
  return Napi::Boolean::New(env, previous);
  GUARD_END("setGradEnabled")
}

ENTRY(isGradEnabled) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  return Napi::Boolean::New(env, c10::GradMode::is_enabled());
  GUARD_END("isGradEnabled")
}

// ---- autocast (mixed precision; src/tensor/autocast.ts) ----
// libtorch 2.x keys autocast state by device type; 1.13 has one setter pair per device.

static at::DeviceType autocastDevice(const Napi::CallbackInfo& info, const char* op) {
  std::string d = argString(info, 0, op, "deviceType");
  if (d == "cpu") return at::kCPU;
  if (d == "cuda") return at::kCUDA;
  throw ArgumentError("argument 'deviceType' must be 'cpu' or 'cuda', got '" + d + "'");
}

#if TORCH_VERSION_MAJOR * 100 + TORCH_VERSION_MINOR >= 204
static bool autocastEnabled(at::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
static void autocastEnable(at::DeviceType d, bool on) { at::autocast::set_autocast_enabled(d, on); }
static at::ScalarType autocastDtype(at::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
static void autocastSetDtypeOf(at::DeviceType d, at::ScalarType t) { at::autocast::set_autocast_dtype(d, t); }
#else
static bool autocastEnabled(at::DeviceType d) { return d == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled(); }
static void autocastEnable(at::DeviceType d, bool on) {
  if (d == at::kCPU) at::autocast::set_cpu_enabled(on);
  else at::autocast::set_enabled(on);
}
static at::ScalarType autocastDtype(at::DeviceType d) { return d == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype(); }
static void autocastSetDtypeOf(at::DeviceType d, at::ScalarType t) {
  if (d == at::kCPU) at::autocast::set_autocast_cpu_dtype(t);
  else at::autocast::set_autocast_gpu_dtype(t);
}
#endif

ENTRY(autocastSetEnabled) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 2, "autocastSetEnabled");
  at::DeviceType d = autocastDevice(info, "autocastSetEnabled");
  bool on = argBool(info, 1, "autocastSetEnabled", "enabled");
  bool previous = autocastEnabled(d);
  autocastEnable(d, on);
  return Napi::Boolean::New(env, previous);
  GUARD_END("autocastSetEnabled")
}

ENTRY(autocastIsEnabled) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "autocastIsEnabled");
  return Napi::Boolean::New(env, autocastEnabled(autocastDevice(info, "autocastIsEnabled")));
  GUARD_END("autocastIsEnabled")
}

ENTRY(autocastSetDtype) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 2, "autocastSetDtype");
  at::DeviceType d = autocastDevice(info, "autocastSetDtype");
  at::ScalarType t = argDtype(info, 1, "autocastSetDtype", "dtype");
  // Autocast lowers to a 16-bit float: CPU supports bfloat16 (and float16 from 2.x), CUDA both.
  if (t != at::kBFloat16 && t != at::kHalf) throw ArgumentError("argument 'dtype' must be bfloat16 or float16");
  if (d == at::kCPU && t == at::kHalf && TORCH_VERSION_MAJOR < 2) throw ArgumentError("CPU autocast in libtorch 1.x supports bfloat16 only");
  int previous = static_cast<int>(autocastDtype(d));
  autocastSetDtypeOf(d, t);
  return Napi::Number::New(env, previous);
  GUARD_END("autocastSetDtype")
}

ENTRY(autocastGetDtype) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "autocastGetDtype");
  return Napi::Number::New(env, static_cast<int>(autocastDtype(autocastDevice(info, "autocastGetDtype"))));
  GUARD_END("autocastGetDtype")
}

// Nesting depth of autocast regions; leaving the outermost one drops the cache of casted weights
// (as torch.autocast's __exit__ does).
ENTRY(autocastEnterRegion) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  return Napi::Number::New(env, at::autocast::increment_nesting());
  GUARD_END("autocastEnterRegion")
}

ENTRY(autocastExitRegion) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  int depth = at::autocast::decrement_nesting();
  if (depth == 0) at::autocast::clear_cache();
  return Napi::Number::New(env, depth);
  GUARD_END("autocastExitRegion")
}

ENTRY(setNumThreads) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "setNumThreads");
  int64_t n = argInt(info, 0, "setNumThreads", "threads");
  if (n < 1 || n > 1024) throw ArgumentError("argument 'threads' must be between 1 and 1024, got " + std::to_string(n));
  at::set_num_threads(static_cast<int>(n));
  return env.Undefined();
  GUARD_END("setNumThreads")
}

ENTRY(getNumThreads) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  return Napi::Number::New(env, at::get_num_threads());
  GUARD_END("getNumThreads")
}

ENTRY(cudaSynchronize) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  // Copying one value back waits for every kernel queued on the current stream.
  if (at::hasCUDA()) (void)at::zeros({1}, at::TensorOptions().device(at::kCUDA)).sum().item();
  return env.Undefined();
  GUARD_END("cudaSynchronize")
}

// torch.backends.cudnn.allow_tf32: whether cuDNN's float32 convolutions may use TF32 tensor cores
// (libtorch's default, as PyTorch's, is true; float32 matmuls already default to full precision).
// Returns the previous value. The tests turn it off on CUDA to compare against float64 references.
ENTRY(setAllowTF32CuDNN) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  checkArgCount(info, 1, "setAllowTF32CuDNN");
  const bool allow = argBool(info, 0, "setAllowTF32CuDNN", "allow");
  const bool previous = at::globalContext().allowTF32CuDNN();
  at::globalContext().setAllowTF32CuDNN(allow);
  return Napi::Boolean::New(env, previous);
  GUARD_END("setAllowTF32CuDNN")
}

ENTRY(buildInfo) {
  Napi::Env env = info.Env();
  GUARD_BEGIN
  Napi::Object o = Napi::Object::New(env);
  o.Set("torchVersion", Napi::String::New(env, TORCH_VERSION));
  o.Set("cuda", Napi::Boolean::New(env, at::hasCUDA()));
  // Linked against a CUDA libtorch (CUDA hooks loaded), GPU or not; its CUDA runtime version (e.g. 13020).
  bool cudaBuilt = at::detail::getCUDAHooks().hasCUDART();
  o.Set("cudaBuilt", Napi::Boolean::New(env, cudaBuilt));
  o.Set("cudaRuntimeVersion", Napi::Number::New(env, cudaBuilt ? static_cast<double>(at::detail::getCUDAHooks().versionCUDART()) : 0));
  o.Set("cudaDeviceCount", Napi::Number::New(env, at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0));
  o.Set("scaledDotProductAttention", Napi::Boolean::New(env, TORCH_VERSION_MAJOR >= 2));
  o.Set("cxx11Abi", Napi::Boolean::New(env, _GLIBCXX_USE_CXX11_ABI != 0));
  o.Set("parallelInfo", Napi::String::New(env, at::get_parallel_info()));
  o.Set("mallocTuned", Napi::Boolean::New(env, gMallocTuned));
  return o;
  GUARD_END("buildInfo")
}

#define EXPORT(NAME) exports.Set(#NAME, Napi::Function::New(env, NAME, #NAME))

// ---------------------------------------------------------------------------------------------
// Heap tuning
//
// libtorch's CPU tensors come from malloc. glibc's dynamic thresholds let a training step's
// freed activations (8-16 MB each for the bench U-Net) land at the top of the heap and be
// trimmed back to the OS at the end of the step, so the next step faults every page in again:
// 8k-35k page faults and 20-90 ms of system time per step in bench/engine.ts, varying run to
// run. Fixed thresholds keep blocks up to 32 MB (glibc's own dynamic maximum) on the heap and
// return its top only past 512 MB: no faults in steady state. Skipped when the user set malloc
// options (MALLOC_*_ or GLIBC_TUNABLES) or CONSISTENCY_MALLOC_TUNING=0.

static void tuneMalloc() {
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    const char* optOut = std::getenv("CONSISTENCY_MALLOC_TUNING");
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if (optOut && std::string(optOut) == "0") return;
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("MALLOC_TOP_PAD_") ||
        (tunables && std::strstr(tunables, "glibc.malloc.")))
      return;
    gMallocTuned = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 512 << 20) == 1;
  });
#endif
}

static Napi::Object init(Napi::Env env, Napi::Object exports) {
  tuneMalloc();
  // The tensor table of this environment; it (and every tensor still in it) goes with the env.
  if (napi_set_instance_data(env, new TensorTable(), [](napi_env, void* data, void*) { delete static_cast<TensorTable*>(data); }, nullptr) != napi_ok)
    throw Napi::Error::New(env, "consistency_native: cannot set up the tensor table");
  EXPORT(dispose);
  EXPORT(liveTensors);
  EXPORT(shape);
  EXPORT(dtype);
  EXPORT(device);
  EXPORT(fromBuffer);
  EXPORT(toBuffer);
  EXPORT(scalarTensor);
  EXPORT(generatorNew);
  EXPORT(defaultGenerator);
  EXPORT(generatorManualSeed);
  EXPORT(generatorGetState);
  EXPORT(generatorSetState);
  EXPORT(manualSeed);
  EXPORT(setGradEnabled);
  EXPORT(isGradEnabled);
  EXPORT(autocastSetEnabled);
  EXPORT(autocastIsEnabled);
  EXPORT(autocastSetDtype);
  EXPORT(autocastGetDtype);
  EXPORT(autocastEnterRegion);
  EXPORT(autocastExitRegion);
  EXPORT(setNumThreads);
  EXPORT(getNumThreads);
  EXPORT(cudaSynchronize);
  EXPORT(setAllowTF32CuDNN);
  EXPORT(buildInfo);
  exports.Set("sourceHash", Napi::String::New(env, CTS_SOURCE_HASH));
  registerGeneratedOps(env, exports);
  registerDistributedOps(env, exports);
  return exports;
}

}  // namespace cts

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return cts::init(env, exports); }
NODE_API_MODULE(consistency_native, InitAddon)

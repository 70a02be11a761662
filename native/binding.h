// Shared machinery of the native addon: tensor and generator handles, argument checks that name
// the op and the argument, and the guard that turns every C++ exception into a JS Error.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <string>
#include <tuple>
#include <vector>

namespace cts {

/** One random generator owned by JS. */
struct GeneratorBox {
  at::Generator generator;
};

/** Raised by the argument checks; becomes a TypeError in JS. */
struct ArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Every entry point runs inside GUARD_BEGIN/GUARD_END: no C++ exception crosses into Node.
#define GUARD_BEGIN try {
#define GUARD_END(NAME)                                                                    \
  }                                                                                        \
  catch (const ::cts::ArgumentError& e) {                                                  \
    Napi::TypeError::New(env, std::string(NAME) + ": " + e.what()).ThrowAsJavaScriptException(); \
    return env.Undefined();                                                                \
  }                                                                                        \
  catch (const c10::Error& e) {                                                            \
    Napi::Error::New(env, std::string(NAME) + ": " + e.what_without_backtrace()).ThrowAsJavaScriptException(); \
    return env.Undefined();                                                                \
  }                                                                                        \
  catch (const Napi::Error& e) {                                                           \
    e.ThrowAsJavaScriptException();                                                        \
    return env.Undefined();                                                                \
  }                                                                                        \
  catch (const std::bad_alloc&) {                                                          \
    Napi::Error::New(env, std::string(NAME) + ": out of memory").ThrowAsJavaScriptException(); \
    return env.Undefined();                                                                \
  }                                                                                        \
  catch (const std::exception& e) {                                                        \
    Napi::Error::New(env, std::string(NAME) + ": " + e.what()).ThrowAsJavaScriptException(); \
    return env.Undefined();                                                                \
  }                                                                                        \
  catch (...) {                                                                            \
    Napi::Error::New(env, std::string(NAME) + ": unknown native error").ThrowAsJavaScriptException(); \
    return env.Undefined();                                                                \
  }

void checkArgCount(const Napi::CallbackInfo& info, size_t n, const char* op);
const at::Tensor& argTensor(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
c10::optional<at::Tensor> argOptTensor(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
std::vector<at::Tensor> argTensorList(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
int64_t argInt(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
c10::optional<int64_t> argOptInt(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
std::vector<int64_t> argIntList(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
double argDouble(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
c10::optional<double> argOptDouble(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
at::Scalar argScalar(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
c10::optional<at::Scalar> argOptScalar(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
bool argBool(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
at::ScalarType argDtype(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
at::Device argDevice(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
c10::optional<at::Generator> argOptGenerator(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
GeneratorBox* argGenerator(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
std::string argString(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);

Napi::Value wrapTensor(Napi::Env env, at::Tensor t);
Napi::Value wrapTensorList(Napi::Env env, const std::vector<at::Tensor>& ts);

template <typename... Ts>
std::vector<at::Tensor> tupleToVector(const std::tuple<Ts...>& t) {
  return std::apply([](const auto&... x) { return std::vector<at::Tensor>{x...}; }, t);
}

at::Tensor dropoutWithGenerator(const at::Tensor& input, double p, bool train, const c10::optional<at::Generator>& gen);
at::Tensor attentionForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const c10::optional<at::Tensor>& mask);

void registerGeneratedOps(Napi::Env env, Napi::Object exports);
void registerDistributedOps(Napi::Env env, Napi::Object exports);  // native/distributed.cc

}  // namespace cts

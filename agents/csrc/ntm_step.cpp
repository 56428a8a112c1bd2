// One fused NTM step on CPU (Graves et al. 2014, eqs. 2-9), forward and hand-written backward.
//
// Shapes: B batch, W write and R read heads (H = W + R, write heads first), N slots, M slot
// width, S = 2 r + 1 shift offsets. Input: the controller's raw head outputs [B, P] (as
// NTMCore.head_proj gives them), clipped to [-clip, clip] if clip > 0, then per head: key
// [M], beta = softplus, gate = sigmoid, shift = softmax [S], gamma = 1 + softplus (addressing
// heads, write heads first), then per write head erase = sigmoid [M] and add = tanh [M].
// Every head addresses the memory of step t - 1 (cosine similarity eq. 6, content softmax
// eq. 5, interpolation eq. 7, circular shift eq. 8, sharpening eq. 9); the read heads read it
// (eq. 2), the write heads erase and add (eqs. 3-4). With fixed_writes the write heads do not
// address: their weightings are given (write_prev, e.g. NTMCore's sequential write) and used
// as they are, and their addressing outputs get zero gradient. Per batch row: two passes over
// memory forward (similarity; read + write) and two backward, where agents/addressing.py
// takes ~130 aten ops forward and ~180 backward. Results equal that path up to float
// rounding. Keys are scaled to max-abs <= 1 (the scale treated as a constant) as there; a
// memory row whose squared norm overflows in float is redone in double, so finite inputs give
// finite outputs.
//
// This file: the shapes' checks, the bindings and the choice of build; the arithmetic is in
// ntm_kernel.h, compiled here twice (generic, and AVX2 + FMA where GCC targets x86-64).
#include "ntm_step.h"
#include "sequence_util.h"

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

// agents.addressing's EPSILON, BETA_MAX, GAMMA_MAX (exported below; a test keeps them equal)
constexpr double EPS = NTM_EPSILON;
constexpr double BETA_MAX = 1e6;
constexpr double GAMMA_MAX = 1e6;
constexpr double SOFTPLUS_THRESHOLD = 20.0;  // as torch.nn.functional.softplus

struct Dims {
  int64_t B, W, R, H, N, M, S, r, HS, P;  // HS: raw values per addressing head
  double clip;                            // <= 0: no clip
  bool fixed_writes;                      // write weightings given, not addressed
};

Dims make_dims(const torch::Tensor& raw, const torch::Tensor& memory,
               const torch::Tensor& write_prev, const torch::Tensor& read_prev, int64_t W,
               int64_t R, int64_t S, double clip, bool fixed_writes) {
  TORCH_CHECK(memory.dim() == 3, "memory must be [B, N, M]");
  TORCH_CHECK(raw.dim() == 2 && raw.size(0) == memory.size(0), "raw must be [B, P]");
  TORCH_CHECK(W >= 1 && R >= 1 && S >= 1 && S % 2 == 1, "need W, R >= 1 and S odd");
  const int64_t B = memory.size(0), N = memory.size(1), M = memory.size(2), H = W + R;
  const int64_t HS = M + 3 + S;
  TORCH_CHECK(S <= N, "the shift range must fit the memory");
  TORCH_CHECK(raw.size(1) == H * HS + 2 * W * M, "raw has the wrong width for W, R, S, M");
  check_shape(write_prev, "write_prev", {B, W, N});
  check_shape(read_prev, "read_prev", {B, R, N});
  return {B, W, R, H, N, M, S, S / 2, HS, raw.size(1), clip, fixed_writes};
}

// The float exp and log of ntm_kernel.h split ln 2 in two parts (Cody-Waite);
// -fassociative-math would fold them back into one and lose ~4 bits, so these two functions
// keep the written order.
#if defined(__clang__)
#define NTM_KEEP_ORDER_ATTR
#define NTM_KEEP_ORDER _Pragma("clang fp reassociate(off)")
#elif defined(__GNUC__)
#define NTM_KEEP_ORDER_ATTR __attribute__((optimize("no-associative-math")))
#define NTM_KEEP_ORDER
#else
#define NTM_KEEP_ORDER_ATTR
#define NTM_KEEP_ORDER
#endif

}  // namespace

// The kernels twice where the compiler can target AVX2 + FMA per function (GCC, x86-64):
// generic:: for any CPU, avx2:: used when the CPU has both (use_avx2 below).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NTM_AVX2 1
#else
#define NTM_AVX2 0
#endif

namespace generic {
namespace {
#include "ntm_kernel.h"
}  // namespace
}  // namespace generic

#if NTM_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
namespace {
#include "ntm_kernel.h"
}  // namespace
}  // namespace avx2
#pragma GCC pop_options
#endif

namespace {

bool force_generic = false;  // set by use_generic_kernel (tests compare both builds)

bool use_avx2() {
#if NTM_AVX2
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has && !force_generic;
#else
  return false;
#endif
}

// f(Kernels<T>{}) of the build use_avx2 picks
template <typename T, typename F>
void with_kernels(F&& f) {
#if NTM_AVX2
  if (use_avx2()) return f(avx2::Kernels<T>{});
#endif
  f(generic::Kernels<T>{});
}

void check_inputs(const std::vector<torch::Tensor>& ts) {
  check_cpu("the fused NTM step", ts);
  for (const auto& t : ts)
    TORCH_CHECK(t.scalar_type() == ts[0].scalar_type(), "the fused NTM step needs one dtype");
}

}  // namespace

// Returns the write and read weightings [B, W, N] and [B, R, N], the reads [B, R, M] and the
// new memory [B, N, M], then for the backward the cosine, content, gated and shifted
// weightings [B, H, N], log(shifted + eps) [B, H, N], key norms [B, H], reciprocal memory
// row norms [B, N] and the activated head values [B, P + H] (raw's layout, then key scales).
std::vector<torch::Tensor> step_forward(torch::Tensor raw, torch::Tensor memory,
                                        torch::Tensor write_prev, torch::Tensor read_prev,
                                        int64_t W, int64_t R, int64_t S, double clip,
                                        bool fixed_writes) {
  check_inputs({raw, memory, write_prev, read_prev});
  const Dims d = make_dims(raw, memory, write_prev, read_prev, W, R, S, clip, fixed_writes);
  // pooled: a training sequence keeps every step's outputs until its backward (~1 MB a step
  // at B = 64), which malloc would otherwise map and first-touch afresh on every call
  auto opts = memory.options();
  const auto hn = std::vector<int64_t>{d.B, d.H, d.N};
  auto write_w = pooled_empty({d.B, W, d.N}, opts), read_w = pooled_empty({d.B, R, d.N}, opts);
  auto reads = pooled_empty({d.B, R, d.M}, opts);
  auto new_memory = pooled_empty(memory.sizes(), opts);
  auto cosine = pooled_empty(hn, opts), content = pooled_empty(hn, opts);
  auto gated = pooled_empty(hn, opts), shifted = pooled_empty(hn, opts);
  auto log_shifted = pooled_empty(hn, opts);
  auto key_norm = pooled_empty({d.B, d.H}, opts), inv_mem_norm = pooled_empty({d.B, d.N}, opts);
  auto heads = pooled_empty({d.B, d.P + d.H}, opts);
  AT_DISPATCH_FLOATING_TYPES(memory.scalar_type(), "ntm_step_forward", [&] {
    with_kernels<scalar_t>([&](auto k) {
      k.forward(
        d, raw.data_ptr<scalar_t>(), memory.data_ptr<scalar_t>(),
        write_prev.data_ptr<scalar_t>(), read_prev.data_ptr<scalar_t>(),
        write_w.data_ptr<scalar_t>(), read_w.data_ptr<scalar_t>(), reads.data_ptr<scalar_t>(),
        new_memory.data_ptr<scalar_t>(), cosine.data_ptr<scalar_t>(),
        content.data_ptr<scalar_t>(), gated.data_ptr<scalar_t>(), shifted.data_ptr<scalar_t>(),
        log_shifted.data_ptr<scalar_t>(), key_norm.data_ptr<scalar_t>(),
        inv_mem_norm.data_ptr<scalar_t>(), heads.data_ptr<scalar_t>());
    });
  });
  return {write_w, read_w,      reads,    new_memory,   cosine, content,
          gated,   shifted,     log_shifted, key_norm, inv_mem_norm, heads};
}

// Gradients for (raw, memory, write_prev, read_prev).
std::vector<torch::Tensor> step_backward(
    torch::Tensor g_write_w, torch::Tensor g_read_w, torch::Tensor g_reads,
    torch::Tensor g_memory, torch::Tensor raw, torch::Tensor memory, torch::Tensor write_prev,
    torch::Tensor read_prev, torch::Tensor write_w, torch::Tensor read_w, torch::Tensor cosine,
    torch::Tensor content, torch::Tensor gated, torch::Tensor shifted,
    torch::Tensor log_shifted, torch::Tensor key_norm, torch::Tensor inv_mem_norm,
    torch::Tensor heads, int64_t W, int64_t R, int64_t S, double clip, bool fixed_writes) {
  check_inputs({g_write_w, g_read_w, g_reads, g_memory, raw, memory, write_prev, read_prev,
                write_w, read_w, cosine, content, gated, shifted, log_shifted, key_norm,
                inv_mem_norm, heads});
  const Dims d = make_dims(raw, memory, write_prev, read_prev, W, R, S, clip, fixed_writes);
  TORCH_CHECK(heads.numel() == d.B * (d.P + d.H), "heads must be [B, P + H] as forward gives it");
  check_shape(g_memory, "g_memory", memory.sizes());
  for (const auto& [t, name] : {std::pair{&g_write_w, "g_write_w"}, {&write_w, "write_w"}})
    check_shape(*t, name, {d.B, d.W, d.N});
  for (const auto& [t, name] : {std::pair{&g_read_w, "g_read_w"}, {&read_w, "read_w"}})
    check_shape(*t, name, {d.B, d.R, d.N});
  check_shape(g_reads, "g_reads", {d.B, d.R, d.M});
  for (const auto& [t, name] : {std::pair{&cosine, "cosine"}, {&content, "content"},
                                {&gated, "gated"}, {&shifted, "shifted"},
                                {&log_shifted, "log_shifted"}})
    check_shape(*t, name, {d.B, d.H, d.N});
  check_shape(key_norm, "key_norm", {d.B, d.H});
  check_shape(inv_mem_norm, "inv_mem_norm", {d.B, d.N});
  const auto opts = memory.options();
  auto d_raw = pooled_empty(raw.sizes(), opts), d_memory = pooled_empty(memory.sizes(), opts);
  auto d_write_prev = pooled_empty(write_prev.sizes(), opts);
  auto d_read_prev = pooled_empty(read_prev.sizes(), opts);
  AT_DISPATCH_FLOATING_TYPES(memory.scalar_type(), "ntm_step_backward", [&] {
    with_kernels<scalar_t>([&](auto k) {
      k.backward(
        d, g_write_w.data_ptr<scalar_t>(), g_read_w.data_ptr<scalar_t>(),
        g_reads.data_ptr<scalar_t>(), g_memory.data_ptr<scalar_t>(), raw.data_ptr<scalar_t>(),
        memory.data_ptr<scalar_t>(), write_prev.data_ptr<scalar_t>(),
        read_prev.data_ptr<scalar_t>(), write_w.data_ptr<scalar_t>(),
        read_w.data_ptr<scalar_t>(), cosine.data_ptr<scalar_t>(), content.data_ptr<scalar_t>(),
        gated.data_ptr<scalar_t>(), shifted.data_ptr<scalar_t>(),
        log_shifted.data_ptr<scalar_t>(), key_norm.data_ptr<scalar_t>(),
        inv_mem_norm.data_ptr<scalar_t>(), heads.data_ptr<scalar_t>(), d_raw.data_ptr<scalar_t>(),
        d_memory.data_ptr<scalar_t>(), d_write_prev.data_ptr<scalar_t>(),
        d_read_prev.data_ptr<scalar_t>());
    });
  });
  return {d_raw, d_memory, d_write_prev, d_read_prev};
}

template <typename T>
void lstm_pointwise_rows(T* gates, const T* c, T* c_new, T* tanh_c, T* h, int64_t B, int64_t C) {
  with_kernels<T>([&](auto k) { k.lstm(gates, c, c_new, tanh_c, h, B, C); });
}

template <typename T>
void lstm_pointwise_backward_rows(const T* acts, const T* c_prev, const T* tanh_c, const T* dh,
                                  T* dc, T* d_gates, int64_t B, int64_t C) {
  with_kernels<T>([&](auto k) { k.lstm_backward(acts, c_prev, tanh_c, dh, dc, d_gates, B, C); });
}

template <typename T>
void gru_pointwise_rows(const T* gx, const T* gh, const T* h, T* acts, T* h_new, int64_t B,
                        int64_t C) {
  with_kernels<T>([&](auto k) { k.gru(gx, gh, h, acts, h_new, B, C); });
}

template <typename T>
void gru_pointwise_backward_rows(const T* acts, const T* gh, const T* h, const T* dh, T* d_gx,
                                 T* d_gh, T* dh_direct, int64_t B, int64_t C) {
  with_kernels<T>([&](auto k) { k.gru_backward(acts, gh, h, dh, d_gx, d_gh, dh_direct, B, C); });
}

#define NTM_POINTWISE_ROWS(T)                                                                     \
  template void lstm_pointwise_rows<T>(T*, const T*, T*, T*, T*, int64_t, int64_t);              \
  template void lstm_pointwise_backward_rows<T>(const T*, const T*, const T*, const T*, T*, T*,  \
                                                int64_t, int64_t);                               \
  template void gru_pointwise_rows<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t);   \
  template void gru_pointwise_backward_rows<T>(const T*, const T*, const T*, const T*, T*, T*,   \
                                               T*, int64_t, int64_t);
NTM_POINTWISE_ROWS(float)
NTM_POINTWISE_ROWS(double)
#undef NTM_POINTWISE_ROWS

// The *_rows kernels on checked tensors, for the module's bindings (the tests call them)
namespace {

void lstm_pointwise(torch::Tensor gates, const torch::Tensor& c, torch::Tensor c_new,
                    torch::Tensor tanh_c, torch::Tensor h) {
  check_inputs({gates, c, c_new, tanh_c, h});
  const int64_t B = c.size(0), C = c.size(1);
  TORCH_CHECK(gates.numel() == B * 4 * C && c_new.numel() == B * C && tanh_c.numel() == B * C &&
                  h.numel() == B * C,
              "lstm_pointwise needs gates [B, 4C] and c, c_new, tanh_c, h [B, C]");
  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "ntm_lstm_pointwise", [&] {
    lstm_pointwise_rows(gates.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(),
                        c_new.data_ptr<scalar_t>(), tanh_c.data_ptr<scalar_t>(),
                        h.data_ptr<scalar_t>(), B, C);
  });
}

void lstm_pointwise_backward(const torch::Tensor& acts, const torch::Tensor& c_prev,
                             const torch::Tensor& tanh_c, const torch::Tensor& dh,
                             torch::Tensor dc, torch::Tensor d_gates) {
  check_inputs({acts, c_prev, tanh_c, dh, dc, d_gates});
  const int64_t B = c_prev.size(0), C = c_prev.size(1);
  TORCH_CHECK(acts.numel() == B * 4 * C && d_gates.numel() == B * 4 * C &&
                  tanh_c.numel() == B * C && dh.numel() == B * C && dc.numel() == B * C,
              "lstm_pointwise_backward needs acts, d_gates [B, 4C] and c_prev, tanh_c, dh, dc "
              "[B, C]");
  AT_DISPATCH_FLOATING_TYPES(c_prev.scalar_type(), "ntm_lstm_pointwise_backward", [&] {
    lstm_pointwise_backward_rows(acts.data_ptr<scalar_t>(), c_prev.data_ptr<scalar_t>(),
                                 tanh_c.data_ptr<scalar_t>(), dh.data_ptr<scalar_t>(),
                                 dc.data_ptr<scalar_t>(), d_gates.data_ptr<scalar_t>(), B, C);
  });
}

void gru_pointwise(const torch::Tensor& gx, const torch::Tensor& gh, const torch::Tensor& h,
                   torch::Tensor acts, torch::Tensor h_new) {
  check_inputs({gx, gh, h, acts, h_new});
  const int64_t B = h.size(0), C = h.size(1);
  TORCH_CHECK(gx.numel() == B * 3 * C && gh.numel() == B * 3 * C && acts.numel() == B * 3 * C &&
                  h_new.numel() == B * C,
              "gru_pointwise needs gx, gh, acts [B, 3C] and h, h_new [B, C]");
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "ntm_gru_pointwise", [&] {
    gru_pointwise_rows(gx.data_ptr<scalar_t>(), gh.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                       acts.data_ptr<scalar_t>(), h_new.data_ptr<scalar_t>(), B, C);
  });
}

void gru_pointwise_backward(const torch::Tensor& acts, const torch::Tensor& gh,
                            const torch::Tensor& h, const torch::Tensor& dh, torch::Tensor d_gx,
                            torch::Tensor d_gh, torch::Tensor dh_direct) {
  check_inputs({acts, gh, h, dh, d_gx, d_gh, dh_direct});
  const int64_t B = h.size(0), C = h.size(1);
  TORCH_CHECK(acts.numel() == B * 3 * C && gh.numel() == B * 3 * C && d_gx.numel() == B * 3 * C &&
                  d_gh.numel() == B * 3 * C && dh.numel() == B * C && dh_direct.numel() == B * C,
              "gru_pointwise_backward needs acts, gh, d_gx, d_gh [B, 3C] and h, dh, dh_direct "
              "[B, C]");
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "ntm_gru_pointwise_backward", [&] {
    gru_pointwise_backward_rows(acts.data_ptr<scalar_t>(), gh.data_ptr<scalar_t>(),
                                h.data_ptr<scalar_t>(), dh.data_ptr<scalar_t>(),
                                d_gx.data_ptr<scalar_t>(), d_gh.data_ptr<scalar_t>(),
                                dh_direct.data_ptr<scalar_t>(), B, C);
  });
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &step_forward, "fused NTM step (heads, addressing, read, write), forward");
  m.def("backward", &step_backward, "fused NTM step, backward");
  m.def("lstm_pointwise", &lstm_pointwise, "the LSTM cell's pointwise part, in place");
  m.def("lstm_pointwise_backward", &lstm_pointwise_backward,
        "back through lstm_pointwise: d_gates, and dc becomes the gradient reaching c_prev");
  m.def("gru_pointwise", &gru_pointwise, "the GRU cell's pointwise part");
  m.def("gru_pointwise_backward", &gru_pointwise_backward, "back through gru_pointwise");
  bind_sequence(m);
  bind_rnn_sequence(m);
  m.def("pooled_free_bytes", &pooled_free_bytes,
        "bytes of freed sequence buffers kept for reuse (agents/csrc/buffer_pool.cpp)");
  m.def("release_pool", &release_pool, "free the kept sequence buffers");
  m.def("kernel_isa", [] { return use_avx2() ? "avx2+fma" : "generic"; },
        "which build of the step's kernels runs: 'avx2+fma' or 'generic'");
  m.def("openmp",
        [] {
#ifdef _OPENMP
          return true;
#else
          return false;
#endif
        },
        "whether the kernels' at::parallel_for runs on torch's OpenMP threads (else serially)");
  m.def("use_generic_kernel", [](bool on) { force_generic = on; },
        "run the generic build even where the CPU has AVX2 and FMA (to compare them)");
  m.attr("EPSILON") = EPS;
  m.attr("BETA_MAX") = BETA_MAX;
  m.attr("GAMMA_MAX") = GAMMA_MAX;
}

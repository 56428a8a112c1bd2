// Helpers the sequence loops (ntm_sequence.cpp, rnn_sequence.cpp) share: large buffers that
// are reused across calls, resetting rows at episode starts forward, stopping their gradient
// backward, and input checks.
#pragma once

#include <torch/extension.h>

#include <algorithm>
#include <string>
#include <vector>

// torch::empty(sizes, options) on CPU from a process-wide free list of blocks (buffer_pool.cpp):
// a block returns to it when the last tensor on it is freed, and the next call of the same
// size takes it without first-touch page faults. Up to 512 MiB of free blocks are kept.
torch::Tensor pooled_empty(at::IntArrayRef sizes, const torch::TensorOptions& options);

// bytes of free blocks the pool holds, and freeing them all
int64_t pooled_free_bytes();
void release_pool();

// t [B, ...] as [B, n] rows (a view; each row's n values contiguous, rows at any stride)
inline torch::Tensor as_rows(const torch::Tensor& t) {
  auto rows = t.dim() == 2 ? t : t.view({t.size(0), -1});
  TORCH_CHECK(rows.size(1) <= 1 || rows.stride(1) == 1, "row helpers need contiguous rows");
  return rows;
}

// In place on t [B, ...]: each row b with rows[b] set (rows: B bools, e.g. an episode start
// per row) becomes `init` (one row's values). Touches only those rows, where torch::where
// would make a whole new tensor: for the NTM's memory, a full [B, N, M] pass per step.
inline void set_rows_(const torch::Tensor& t, const torch::Tensor& init, const bool* rows) {
  const auto v = as_rows(t);
  const auto src = init.contiguous();
  TORCH_CHECK(src.numel() == v.size(1) && src.scalar_type() == t.scalar_type(),
              "set_rows_: init must hold one row of t, in t's dtype");
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "set_rows_", [&] {
    const scalar_t* s = src.data_ptr<scalar_t>();
    for (int64_t b = 0; b < v.size(0); ++b)
      if (rows[b]) std::copy(s, s + v.size(1), v.data_ptr<scalar_t>() + b * v.stride(0));
  });
}

// In place on p: B rows of n values, row b at p + b * stride (contiguous rows: stride n);
// the rows with rows[b] set become zeros.
template <typename T>
inline void zero_rows(T* p, const bool* rows, int64_t B, int64_t n, int64_t stride) {
  for (int64_t b = 0; b < B; ++b)
    if (rows[b]) std::fill(p + b * stride, p + b * stride + n, T(0));
}

template <typename T>
inline void zero_rows(T* p, const bool* rows, int64_t B, int64_t n) {
  zero_rows(p, rows, B, n, n);
}

// In place on d [B, ...]: the rows with rows[b] set are zeroed (their gradient stops there).
inline void zero_rows_(const torch::Tensor& d, const bool* rows) {
  const auto v = as_rows(d);
  AT_DISPATCH_FLOATING_TYPES(d.scalar_type(), "zero_rows_", [&] {
    zero_rows(v.data_ptr<scalar_t>(), rows, v.size(0), v.size(1), v.stride(0));
  });
}

// acc (one row of d, contiguous) += the sum of the rows of d [B, ...] with rows[b] set: the
// gradient that rows reset to a shared initial value send to it.
inline void add_rows_(const torch::Tensor& acc, const torch::Tensor& d, const bool* rows) {
  const auto v = as_rows(d);
  TORCH_CHECK(acc.is_contiguous() && acc.numel() == v.size(1) &&
                  acc.scalar_type() == d.scalar_type(),
              "add_rows_: acc must be one contiguous row of d, in d's dtype");
  AT_DISPATCH_FLOATING_TYPES(d.scalar_type(), "add_rows_", [&] {
    scalar_t* a = acc.data_ptr<scalar_t>();
    for (int64_t b = 0; b < v.size(0); ++b)
      if (rows[b]) {
        const scalar_t* p = v.data_ptr<scalar_t>() + b * v.stride(0);
        for (int64_t i = 0; i < v.size(1); ++i) a[i] += p[i];
      }
  });
}

// weight gradient (rows^T grads)^T [K, F] from rows [T B, F] and grads [T B, K], formed as
// (small^T big)^T: the shape MKL runs fastest here (e.g. the NTM's d_w_rec 4.0 ms instead of
// 5.0, dx 1.1 ms instead of 4.1)
inline torch::Tensor weight_grad(const torch::Tensor& rows, const torch::Tensor& grads) {
  return rows.t().mm(grads).t();
}

// t must have exactly `shape` (the loops read it by pointer: a wrong size would read past it)
inline void check_shape(const torch::Tensor& t, const char* name, at::IntArrayRef shape) {
  TORCH_CHECK_VALUE(t.sizes() == shape, name, " must have shape ", shape, ", got ", t.sizes());
}

inline void check_cpu(const std::string& what, const std::vector<torch::Tensor>& ts) {
  for (const auto& t : ts) {
    TORCH_CHECK(t.device().is_cpu(), what, " runs on CPU tensors only");
    TORCH_CHECK(t.is_contiguous(), what, " needs contiguous tensors");
  }
}

// Helpers the sequence loops (ntm_sequence.cpp, rnn_sequence.cpp) share: large buffers that
// are reused across calls, resetting rows at episode starts forward, stopping their gradient
// backward, input checks, and running a sequence as blocks of rows on torch's threads.
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

// ---- Blocks of rows: a sequence's batch split into blocks of consecutive rows, each run
// through a sequence loop on one of torch's threads. Rows are independent until the weight
// gradients, which are summed over the blocks in block order. Every op of a step then runs in
// parallel, where a single call parallelises only what splits its own rows (the fused NTM
// kernel); the per-step matrix products are too small to split well.

// the per-step tensors an NTM sequence keeps for its backward, in C++: one Python object per
// sequence instead of ~13 per step (each tensor handed to Python is an object the garbage
// collector tracks and traverses). Under saved-tensor hooks (checkpointing) they are handed
// to Python as a list instead, so that the hooks see them (agents/fused_sequence.py).
struct SavedSteps {
  std::vector<torch::Tensor> tensors;
};

// the rows of each block: B rows in `blocks` blocks of consecutive rows, as even as can be
struct SequenceBlocks {
  std::vector<int64_t> begin, rows;

  SequenceBlocks(int64_t B, int64_t blocks) {
    TORCH_CHECK_VALUE(blocks >= 1 && blocks <= B, "blocks must be in [1, B = ", B, "], got ",
                      blocks);
    for (int64_t i = 0; i < blocks; ++i) {
      begin.push_back(i * B / blocks);
      rows.push_back((i + 1) * B / blocks - i * B / blocks);
    }
  }
  int64_t size() const { return static_cast<int64_t>(begin.size()); }
  // block i's rows of each t along its dim (0: [B, ...], 1: [T, B, ...]), contiguous; t itself
  // where dim < 0 (weights) or t is undefined
  std::vector<torch::Tensor> rows_of(const std::vector<torch::Tensor>& ts, int64_t i,
                                     const std::vector<int64_t>& dims) const {
    TORCH_CHECK(ts.size() == dims.size(), "rows_of: one dim per tensor");
    std::vector<torch::Tensor> out;
    for (size_t j = 0; j < ts.size(); ++j)
      out.push_back(dims[j] < 0 || !ts[j].defined()
                        ? ts[j]
                        : ts[j].narrow(dims[j], begin[i], rows[i]).contiguous());
    return out;
  }
};

// f(i) for every block i on torch's threads, each with the caller's grad mode (off inside an
// autograd Function), which OpenMP's threads do not inherit. Not the whole thread-local
// state: it holds Python objects (saved-tensor hooks, e.g. checkpointing's), and setting it
// on a worker takes the GIL, which the caller holds while it waits here: a deadlock.
template <typename F>
void for_each_block(int64_t blocks, const F& f) {
  const bool grad = at::GradMode::is_enabled();
  at::parallel_for(0, blocks, 1, [&](int64_t i0, int64_t i1) {
    const at::AutoGradMode mode(grad);
    for (int64_t i = i0; i < i1; ++i) f(i);
  });
}

// parts[i][j], output j of block i, joined over the blocks: along dims[j] >= 0, summed in
// block order where dims[j] < 0; an output undefined in block 0 stays undefined
inline std::vector<torch::Tensor> join_blocks(const std::vector<std::vector<torch::Tensor>>& parts,
                                              const std::vector<int64_t>& dims) {
  std::vector<torch::Tensor> joined;
  for (size_t j = 0; j < dims.size(); ++j) {
    if (!parts[0][j].defined()) {
      joined.emplace_back();
      continue;
    }
    std::vector<torch::Tensor> column;
    for (const auto& p : parts) column.push_back(p[j]);
    if (dims[j] >= 0) {
      joined.push_back(torch::cat(column, dims[j]));
    } else {
      auto sum = column[0].clone();
      for (size_t i = 1; i < column.size(); ++i) sum += column[i];
      joined.push_back(sum);
    }
  }
  return joined;
}

// A sequence's forward over blocks of rows: fn(args of block i, i) returns its outputs; the
// first out_dims.size() are joined along those dims, then come the rest of every block's (what
// its backward needs), block after block: the caller saves them for the backward as it saves a
// single call's (torch's saved-tensor hooks, e.g. checkpointing, then see them)
template <typename F>
std::vector<torch::Tensor> forward_in_blocks(int64_t B, int64_t blocks,
                                             const std::vector<torch::Tensor>& args,
                                             const std::vector<int64_t>& arg_dims,
                                             const std::vector<int64_t>& out_dims, const F& fn) {
  const SequenceBlocks rows(B, blocks);
  std::vector<std::vector<torch::Tensor>> parts(blocks), saved(blocks);
  for_each_block(blocks, [&](int64_t i) {
    auto result = fn(rows.rows_of(args, i, arg_dims), i);
    const auto joined_end = result.begin() + static_cast<int64_t>(out_dims.size());
    saved[i].assign(joined_end, result.end());
    parts[i].assign(result.begin(), joined_end);
  });
  auto out = join_blocks(parts, out_dims);
  for (const auto& s : saved) out.insert(out.end(), s.begin(), s.end());
  return out;
}

// The backward over the blocks of forward_in_blocks: `saved` is what it returned after the
// joined outputs; fn(args of block i, block i's saved tensors, i) returns block i's gradients,
// joined along out_dims (< 0: summed, as weight gradients are)
template <typename F>
std::vector<torch::Tensor> backward_in_blocks(int64_t B, int64_t blocks,
                                              const std::vector<torch::Tensor>& args,
                                              const std::vector<int64_t>& arg_dims,
                                              const std::vector<int64_t>& out_dims,
                                              const std::vector<torch::Tensor>& saved,
                                              const F& fn) {
  const SequenceBlocks rows(B, blocks);
  TORCH_CHECK(saved.size() % blocks == 0, "saved: the same number of tensors for every block");
  const int64_t n = static_cast<int64_t>(saved.size()) / blocks;
  std::vector<std::vector<torch::Tensor>> parts(blocks);
  for_each_block(blocks, [&](int64_t i) {
    const std::vector<torch::Tensor> own(saved.begin() + i * n, saved.begin() + (i + 1) * n);
    parts[i] = fn(rows.rows_of(args, i, arg_dims), own, i);
  });
  return join_blocks(parts, out_dims);
}

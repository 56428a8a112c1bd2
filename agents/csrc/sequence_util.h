// Helpers the sequence loops (ntm_sequence.cpp, rnn_sequence.cpp) share: large buffers that
// are reused across calls, resetting rows at episode starts forward, stopping their gradient
// backward, and input checks.
#pragma once

#include <torch/extension.h>

#include <string>
#include <vector>

// torch::empty(sizes, options) on CPU from a process-wide free list of blocks (buffer_pool.cpp):
// a block returns to it when the last tensor on it is freed, and the next call of the same
// size takes it without first-touch page faults. Up to 512 MiB of free blocks are kept.
torch::Tensor pooled_empty(at::IntArrayRef sizes, const torch::TensorOptions& options);

// bytes of free blocks the pool holds, and freeing them all
int64_t pooled_free_bytes();
void release_pool();

// a per-row [B] tensor viewed as [B, 1, ...] to broadcast against a [B, ...] one of `dim` dims
inline torch::Tensor per_row(const torch::Tensor& v, int64_t dim) {
  std::vector<int64_t> shape(dim, 1);
  shape[0] = -1;
  return v.view(shape);
}

// rows where `rows` [B] (bool) is set take `init` (broadcast over the batch)
inline torch::Tensor reset(const torch::Tensor& t, const torch::Tensor& init,
                           const torch::Tensor& rows) {
  return torch::where(per_row(rows, t.dim()), init, t);
}

// d [B, ...] with the rows where `keep` [B] (0 or 1, d's dtype) is 0 zeroed, contiguous
inline torch::Tensor keep_rows(const torch::Tensor& d, const torch::Tensor& keep) {
  return (d * per_row(keep, d.dim())).contiguous();
}

// weight gradient (rows^T grads)^T [K, F] from rows [T B, F] and grads [T B, K], formed as
// (small^T big)^T: the shape MKL runs fastest here (e.g. the NTM's d_w_rec 4.0 ms instead of
// 5.0, dx 1.1 ms instead of 4.1)
inline torch::Tensor weight_grad(const torch::Tensor& rows, const torch::Tensor& grads) {
  return rows.t().mm(grads).t();
}

inline void check_cpu(const std::string& what, const std::vector<torch::Tensor>& ts) {
  for (const auto& t : ts) {
    TORCH_CHECK(t.device().is_cpu(), what, " runs on CPU tensors only");
    TORCH_CHECK(t.is_contiguous(), what, " needs contiguous tensors");
  }
}

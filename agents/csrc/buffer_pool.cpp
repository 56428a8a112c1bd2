// pooled_empty: the sequence loops' large buffers (saved activations, gradients: tens of MB
// per call at PPO's minibatches) from a free list that keeps freed blocks for the next call.
// Fresh large allocations are mmapped by malloc and returned to the system when freed, so
// every call first-touched them again: one page fault per 4 KiB, ~60% of an LSTM sequence's
// forward at B = 256 on this project's CI machine. A block returns to the list only when the
// last tensor on it is freed (its storage's deleter), so reuse never aliases live data.
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>

#include "sequence_util.h"

namespace {

constexpr size_t ALIGN = 64;
constexpr size_t POOL_CAP = size_t(512) << 20;  // bytes of free blocks kept at most

struct Pool {
  std::mutex mu;
  std::unordered_multimap<size_t, void*> free_blocks;  // by size in bytes
  size_t free_bytes = 0;
};

// never destroyed: tensors freed during interpreter shutdown still return their blocks
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

void give_back(void* block, size_t bytes) {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mu);
    if (p.free_bytes + bytes <= POOL_CAP) {
      p.free_blocks.emplace(bytes, block);
      p.free_bytes += bytes;
      return;
    }
  }
  std::free(block);
}

void* take(size_t bytes) {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mu);
    auto it = p.free_blocks.find(bytes);
    if (it != p.free_blocks.end()) {
      void* block = it->second;
      p.free_blocks.erase(it);
      p.free_bytes -= bytes;
      return block;
    }
  }
  void* block = std::aligned_alloc(ALIGN, bytes);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

}  // namespace

torch::Tensor pooled_empty(at::IntArrayRef sizes, const torch::TensorOptions& options) {
  int64_t numel = 1;
  for (const auto s : sizes) numel *= s;
  const size_t used = static_cast<size_t>(numel) * options.dtype().itemsize();
  const size_t bytes = std::max(ALIGN, (used + ALIGN - 1) / ALIGN * ALIGN);
  void* block = take(bytes);
  return torch::from_blob(block, sizes, [bytes](void* b) { give_back(b, bytes); }, options);
}

int64_t pooled_free_bytes() {
  std::lock_guard<std::mutex> lock(pool().mu);
  return static_cast<int64_t>(pool().free_bytes);
}

void release_pool() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  for (auto& kv : p.free_blocks) std::free(kv.second);
  p.free_blocks.clear();
  p.free_bytes = 0;
}

// The fused NTM step (ntm_step.cpp) as ntm_sequence.cpp calls it, and the sequence's
// bindings (ntm_sequence.cpp) as ntm_step.cpp's module registers them.
#pragma once

#include <torch/extension.h>

#include <vector>

// tensors step_forward returns after its first four (the write and read weightings, the reads,
// the new memory): what step_backward takes back, in order, after read_w
constexpr int64_t STEP_SAVED = 8;

// agents.addressing.EPSILON (a test keeps them equal): log(w + eps), cosine norms
constexpr double NTM_EPSILON = 1e-6;

std::vector<torch::Tensor> step_forward(torch::Tensor raw, torch::Tensor memory,
                                        torch::Tensor write_prev, torch::Tensor read_prev,
                                        int64_t W, int64_t R, int64_t S, double clip,
                                        bool fixed_writes);

std::vector<torch::Tensor> step_backward(
    torch::Tensor g_write_w, torch::Tensor g_read_w, torch::Tensor g_reads,
    torch::Tensor g_memory, torch::Tensor raw, torch::Tensor memory, torch::Tensor write_prev,
    torch::Tensor read_prev, torch::Tensor write_w, torch::Tensor read_w, torch::Tensor cosine,
    torch::Tensor content, torch::Tensor gated, torch::Tensor shifted,
    torch::Tensor log_shifted, torch::Tensor key_norm, torch::Tensor inv_mem_norm,
    torch::Tensor heads, int64_t W, int64_t R, int64_t S, double clip, bool fixed_writes);

// registers sequence_forward, sequence_backward and their saved-steps holder
void bind_sequence(pybind11::module& m);

// The fused NTM step and the LSTM and GRU pointwise kernels (ntm_step.cpp) as the sequence
// loops (ntm_sequence.cpp, rnn_sequence.cpp) call them, and the loops' bindings as ntm_step.cpp's
// module registers them.
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

// The LSTM and GRU cells' pointwise parts on raw contiguous rows (T: float or double), with no
// checks: the sequence loops call them once per step on buffers they checked once; the build
// use_avx2 picks runs them (vectorised activations).
//
// LSTM (PyTorch's gate order i, f, g, o): gates [B, 4C] (pre-activations in, activations
// out), c [B, C]; writes c_new = f c + i g, tanh_c = tanh(c_new), h = o tanh_c [B, C].
template <typename T>
void lstm_pointwise_rows(T* gates, const T* c, T* c_new, T* tanh_c, T* h, int64_t B, int64_t C);
// Back through it: acts [B, 4C] (the activated gates it left), c_prev and tanh_c [B, C]; dh,
// dc [B, C] reach h' and c'. Writes d_gates [B, 4C] (pre-activations); dc becomes the
// gradient reaching c_prev.
template <typename T>
void lstm_pointwise_backward_rows(const T* acts, const T* c_prev, const T* tanh_c, const T* dh,
                                  T* dc, T* d_gates, int64_t B, int64_t C);
// GRU (gate order r, z, n): gx, gh [B, 3C] the input and hidden parts of the gates (biases
// included), h [B, C]; writes acts [B, 3C] = (r, z, n) and h_new = (1 - z) n + z h, with
// n = tanh(gx_n + r gh_n).
template <typename T>
void gru_pointwise_rows(const T* gx, const T* gh, const T* h, T* acts, T* h_new, int64_t B,
                        int64_t C);
// Back through it from dh [B, C] reaching h_new: writes d_gx, d_gh [B, 3C] and dh_direct =
// dh z [B, C].
template <typename T>
void gru_pointwise_backward_rows(const T* acts, const T* gh, const T* h, const T* dh, T* d_gx,
                                 T* d_gh, T* dh_direct, int64_t B, int64_t C);

// registers sequence_forward, sequence_backward and their saved-steps holder
void bind_sequence(pybind11::module& m);

// registers the LSTM and GRU sequences' forward and backward (rnn_sequence.cpp)
void bind_rnn_sequence(pybind11::module& m);

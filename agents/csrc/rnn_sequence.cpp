// LSTM and GRU layers over a whole sequence on CPU, forward and backward, with resets at
// episode starts (agents/fused_rnn.py is the autograd node around them; agents.cores.LSTMCore
// and GRUCore train through them on CPU). torch's CPU LSTM and GRU record ~10 autograd ops per
// step and replay them one by one backward; here, per step forward: one addmm (the recurrent
// part of the gates; the input part of all T steps is one addmm before the loop) and the
// pointwise cell update in one vectorised call; backward: the pointwise backward in one call
// and one matrix product. The weight gradients are formed after the loop, each as one product
// over all T B rows. A start at (t, b) resets row b to a zero state before step t and stops
// the gradient reaching that row's earlier state.
//
// LSTM (PyTorch's gate order i, f, g, o): gates = W_ih x + W_hh h + bias, c' = f c + i g,
// h' = o tanh(c').
// GRU (gate order r, z, n): r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise,
// n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h.
#include <torch/extension.h>

#include <vector>

#include "ntm_step.h"
#include "sequence_util.h"

namespace {

const char* const WHAT = "the LSTM or GRU sequence";

struct SequenceDims {
  int64_t T, B, F, C;
};

// T, B, F of x [T, B, F] and C of h [B, C], once the inputs are CPU, contiguous and starts is
// bool [T, B]
SequenceDims sequence_dims(const std::vector<torch::Tensor>& inputs) {
  check_cpu(WHAT, inputs);
  const auto &x = inputs[0], &starts = inputs[1], &h = inputs[2];
  TORCH_CHECK(starts.scalar_type() == torch::kBool, "starts must be bool [T, B]");
  const SequenceDims d{x.size(0), x.size(1), x.size(2), h.size(1)};
  TORCH_CHECK(starts.size(0) == d.T && starts.size(1) == d.B, "starts must be [T, B]");
  return d;
}

}  // namespace

// x [T, B, F], starts [T, B] (bool), h, c [B, C], w_ih [4C, F], w_hh [4C, C], bias [4C]
// (b_ih + b_hh). Returns y [T, B, C] (h' of every step), the final h and c, then what the
// backward needs: acts [T, B, 4C] (the activated gates), h_prev, c_prev and tanh_c [T, B, C].
std::vector<torch::Tensor> lstm_sequence_forward(torch::Tensor x, torch::Tensor starts,
                                                 torch::Tensor h, torch::Tensor c,
                                                 torch::Tensor w_ih, torch::Tensor w_hh,
                                                 torch::Tensor bias) {
  const auto [T, B, F, C] = sequence_dims({x, starts, h, c, w_ih, w_hh, bias});
  TORCH_CHECK(w_ih.size(0) == 4 * C && w_ih.size(1) == F && w_hh.size(0) == 4 * C &&
                  w_hh.size(1) == C && bias.numel() == 4 * C && c.sizes() == h.sizes(),
              "the LSTM sequence needs w_ih [4C, F], w_hh [4C, C], bias [4C], h and c [B, C]");
  const auto opts = x.options();
  auto acts = pooled_empty({T, B, 4 * C}, opts);
  auto flat_acts = acts.view({T * B, 4 * C});
  at::addmm_out(flat_acts, bias, x.reshape({T * B, F}), w_ih.t());
  const auto w_hh_t = w_hh.t();
  const auto any_start = starts.any(1).contiguous();
  const bool* any = any_start.data_ptr<bool>();
  auto h_prev = pooled_empty({T, B, C}, opts), c_prev = pooled_empty({T, B, C}, opts);
  auto tanh_c = pooled_empty({T, B, C}, opts), y = pooled_empty({T, B, C}, opts);
  auto c_all = pooled_empty({T, B, C}, opts);
  const bool* start_rows = starts.data_ptr<bool>();
  for (int64_t t = 0; t < T; ++t) {
    auto h_in = h_prev[t], c_in = c_prev[t];  // the state entering step t, rows reset
    h_in.copy_(h), c_in.copy_(c);
    if (any[t]) zero_rows_(h_in, start_rows + t * B), zero_rows_(c_in, start_rows + t * B);
    auto gates = acts[t];
    gates.addmm_(h_in, w_hh_t);
    lstm_pointwise(gates, c_in, c_all[t], tanh_c[t], y[t]);
    h = y[t], c = c_all[t];
  }
  return {y, h.clone(), c.clone(), acts, h_prev, c_prev, tanh_c};
}

// Gradients of (x, h, c, w_ih, w_hh, bias) from dy [T, B, C] and dh, dc [B, C] reaching the
// final state (x's only if need_dx, else undefined).
std::vector<torch::Tensor> lstm_sequence_backward(torch::Tensor dy, torch::Tensor dh,
                                                  torch::Tensor dc, torch::Tensor x,
                                                  torch::Tensor starts, torch::Tensor w_ih,
                                                  torch::Tensor w_hh, torch::Tensor acts,
                                                  torch::Tensor h_prev, torch::Tensor c_prev,
                                                  torch::Tensor tanh_c, bool need_dx) {
  check_cpu(WHAT, {dy, dh, dc, x, starts, w_ih, w_hh, acts, h_prev, c_prev, tanh_c});
  const int64_t T = x.size(0), B = x.size(1), F = x.size(2), C = h_prev.size(2);
  dh = dh.clone(), dc = dc.clone();
  auto d_gates = pooled_empty({T, B, 4 * C}, x.options());
  const auto any_start = starts.any(1).contiguous();
  const bool* any = any_start.data_ptr<bool>();
  for (int64_t t = T - 1; t >= 0; --t) {
    dh.add_(dy[t]);
    auto dg = d_gates[t];
    lstm_pointwise_backward(acts[t], c_prev[t], tanh_c[t], dh, dc, dg);
    dh = torch::mm(dg, w_hh);
    if (any[t]) {  // reset rows started from zeros: no gradient reaches their earlier state
      const bool* rows = starts.data_ptr<bool>() + t * B;
      zero_rows_(dh, rows), zero_rows_(dc, rows);
    }
  }
  const auto flat_g = d_gates.view({T * B, 4 * C});
  auto d_w_hh = weight_grad(h_prev.view({T * B, C}), flat_g);
  auto d_w_ih = weight_grad(x.reshape({T * B, F}), flat_g);
  auto dx = need_dx ? weight_grad(w_ih, flat_g.t()).reshape({T, B, F}) : torch::Tensor();
  return {dx, dh, dc, d_w_ih, d_w_hh, flat_g.sum(0)};
}

// x [T, B, F], starts [T, B] (bool), h [B, C], w_ih [3C, F], w_hh [3C, C], b_ih, b_hh [3C].
// Returns y [T, B, C], the final h, then what the backward needs: acts [T, B, 3C] (r, z, n),
// gh [T, B, 3C] (W_hh h + b_hh of each step) and h_prev [T, B, C].
std::vector<torch::Tensor> gru_sequence_forward(torch::Tensor x, torch::Tensor starts,
                                                torch::Tensor h, torch::Tensor w_ih,
                                                torch::Tensor w_hh, torch::Tensor b_ih,
                                                torch::Tensor b_hh) {
  const auto [T, B, F, C] = sequence_dims({x, starts, h, w_ih, w_hh, b_ih, b_hh});
  TORCH_CHECK(w_ih.size(0) == 3 * C && w_ih.size(1) == F && w_hh.size(0) == 3 * C &&
                  w_hh.size(1) == C && b_ih.numel() == 3 * C && b_hh.numel() == 3 * C,
              "the GRU sequence needs w_ih [3C, F], w_hh [3C, C], b_ih and b_hh [3C], h [B, C]");
  const auto opts = x.options();
  auto gx = pooled_empty({T, B, 3 * C}, opts);
  auto flat_gx = gx.view({T * B, 3 * C});
  at::addmm_out(flat_gx, b_ih, x.reshape({T * B, F}), w_ih.t());
  auto gh = pooled_empty({T, B, 3 * C}, opts), acts = pooled_empty({T, B, 3 * C}, opts);
  auto h_prev = pooled_empty({T, B, C}, opts), y = pooled_empty({T, B, C}, opts);
  const auto w_hh_t = w_hh.t();
  const auto any_start = starts.any(1).contiguous();
  const bool* any = any_start.data_ptr<bool>();
  const bool* start_rows = starts.data_ptr<bool>();
  for (int64_t t = 0; t < T; ++t) {
    auto h_in = h_prev[t];  // the state entering step t, rows reset
    h_in.copy_(h);
    if (any[t]) zero_rows_(h_in, start_rows + t * B);
    auto gh_t = gh[t];
    at::addmm_out(gh_t, b_hh, h_in, w_hh_t);
    gru_pointwise(gx[t], gh_t, h_in, acts[t], y[t]);
    h = y[t];
  }
  return {y, h.clone(), acts, gh, h_prev};
}

// Gradients of (x, h, w_ih, w_hh, b_ih, b_hh) from dy [T, B, C] and dh [B, C] reaching the
// final state (x's only if need_dx, else undefined).
std::vector<torch::Tensor> gru_sequence_backward(torch::Tensor dy, torch::Tensor dh,
                                                 torch::Tensor x, torch::Tensor starts,
                                                 torch::Tensor w_ih, torch::Tensor w_hh,
                                                 torch::Tensor acts, torch::Tensor gh,
                                                 torch::Tensor h_prev, bool need_dx) {
  check_cpu(WHAT, {dy, dh, x, starts, w_ih, w_hh, acts, gh, h_prev});
  const int64_t T = x.size(0), B = x.size(1), F = x.size(2), C = h_prev.size(2);
  dh = dh.clone();
  auto d_gx = pooled_empty({T, B, 3 * C}, x.options());
  auto d_gh = pooled_empty({T, B, 3 * C}, x.options());
  auto dh_direct = torch::empty({B, C}, x.options());
  const auto any_start = starts.any(1).contiguous();
  const bool* any = any_start.data_ptr<bool>();
  for (int64_t t = T - 1; t >= 0; --t) {
    dh.add_(dy[t]);
    auto dgh = d_gh[t];
    gru_pointwise_backward(acts[t], gh[t], h_prev[t], dh, d_gx[t], dgh, dh_direct);
    dh = torch::addmm(dh_direct, dgh, w_hh);  // h reaches h' directly and through gh
    if (any[t]) zero_rows_(dh, starts.data_ptr<bool>() + t * B);
  }
  const auto flat_gx = d_gx.view({T * B, 3 * C}), flat_gh = d_gh.view({T * B, 3 * C});
  auto d_w_ih = weight_grad(x.reshape({T * B, F}), flat_gx);
  auto d_w_hh = weight_grad(h_prev.view({T * B, C}), flat_gh);
  auto dx = need_dx ? weight_grad(w_ih, flat_gx.t()).reshape({T, B, F}) : torch::Tensor();
  return {dx, dh, d_w_ih, d_w_hh, flat_gx.sum(0), flat_gh.sum(0)};
}

void bind_rnn_sequence(pybind11::module& m) {
  m.def("lstm_sequence_forward", &lstm_sequence_forward, "one LSTM layer over a sequence");
  m.def("lstm_sequence_backward", &lstm_sequence_backward, "its backward");
  m.def("gru_sequence_forward", &gru_sequence_forward, "one GRU layer over a sequence");
  m.def("gru_sequence_backward", &gru_sequence_backward, "its backward");
}

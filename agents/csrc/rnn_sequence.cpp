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
  TORCH_CHECK(x.dim() == 3 && h.dim() == 2, "the sequence needs x [T, B, F] and h [B, C], got ",
              x.sizes(), " and ", h.sizes());
  TORCH_CHECK(starts.scalar_type() == torch::kBool, "starts must be bool [T, B]");
  const SequenceDims d{x.size(0), x.size(1), x.size(2), h.size(1)};
  check_shape(starts, "starts", {d.T, d.B});
  check_shape(h, "h", {d.B, d.C});  // as many state rows as x has
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
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_sequence_forward", [&] {
    const int64_t n = B * C;  // per step, raw rows: no tensor made but the matrix product's
    const scalar_t *h_src = h.data_ptr<scalar_t>(), *c_src = c.data_ptr<scalar_t>();
    scalar_t *hp = h_prev.data_ptr<scalar_t>(), *cp = c_prev.data_ptr<scalar_t>();
    scalar_t *yp = y.data_ptr<scalar_t>(), *ca = c_all.data_ptr<scalar_t>();
    scalar_t *tc = tanh_c.data_ptr<scalar_t>(), *ap = acts.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      scalar_t *h_in = hp + t * n, *c_in = cp + t * n;  // the state entering step t, rows reset
      std::copy(h_src, h_src + n, h_in), std::copy(c_src, c_src + n, c_in);
      if (any[t]) {
        const bool* rows = start_rows + t * B;
        zero_rows(h_in, rows, B, C), zero_rows(c_in, rows, B, C);
      }
      acts[t].addmm_(h_prev[t], w_hh_t);
      lstm_pointwise_rows(ap + t * 4 * n, c_in, ca + t * n, tc + t * n, yp + t * n, B, C);
      h_src = yp + t * n, c_src = ca + t * n;
    }
  });
  if (T > 0) h = y[T - 1], c = c_all[T - 1];
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
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_sequence_backward", [&] {
    const int64_t n = B * C;
    const scalar_t *dyp = dy.data_ptr<scalar_t>(), *ap = acts.data_ptr<scalar_t>();
    const scalar_t *cp = c_prev.data_ptr<scalar_t>(), *tc = tanh_c.data_ptr<scalar_t>();
    scalar_t *dhp = dh.data_ptr<scalar_t>(), *dcp = dc.data_ptr<scalar_t>();
    scalar_t* dgp = d_gates.data_ptr<scalar_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      for (int64_t i = 0; i < n; ++i) dhp[i] += dyp[t * n + i];
      lstm_pointwise_backward_rows(ap + t * 4 * n, cp + t * n, tc + t * n, dhp, dcp,
                                   dgp + t * 4 * n, B, C);
      at::mm_out(dh, d_gates[t], w_hh);  // dh is no input of the product
      if (any[t]) {  // reset rows started from zeros: no gradient reaches their earlier state
        const bool* rows = starts.data_ptr<bool>() + t * B;
        zero_rows(dhp, rows, B, C), zero_rows(dcp, rows, B, C);
      }
    }
  });
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
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_sequence_forward", [&] {
    const int64_t n = B * C;  // per step, raw rows as in the LSTM's
    const scalar_t* h_src = h.data_ptr<scalar_t>();
    scalar_t *hp = h_prev.data_ptr<scalar_t>(), *yp = y.data_ptr<scalar_t>();
    const scalar_t *gxp = gx.data_ptr<scalar_t>(), *ghp = gh.data_ptr<scalar_t>();
    scalar_t* ap = acts.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      scalar_t* h_in = hp + t * n;  // the state entering step t, rows reset
      std::copy(h_src, h_src + n, h_in);
      if (any[t]) zero_rows(h_in, start_rows + t * B, B, C);
      auto gh_t = gh[t];
      at::addmm_out(gh_t, b_hh, h_prev[t], w_hh_t);
      gru_pointwise_rows(gxp + t * 3 * n, ghp + t * 3 * n, h_in, ap + t * 3 * n, yp + t * n, B,
                         C);
      h_src = yp + t * n;
    }
  });
  if (T > 0) h = y[T - 1];
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
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_sequence_backward", [&] {
    const int64_t n = B * C;
    const scalar_t *dyp = dy.data_ptr<scalar_t>(), *ap = acts.data_ptr<scalar_t>();
    const scalar_t *ghp = gh.data_ptr<scalar_t>(), *hp = h_prev.data_ptr<scalar_t>();
    scalar_t *dhp = dh.data_ptr<scalar_t>(), *ddp = dh_direct.data_ptr<scalar_t>();
    scalar_t *dgxp = d_gx.data_ptr<scalar_t>(), *dghp = d_gh.data_ptr<scalar_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      for (int64_t i = 0; i < n; ++i) dhp[i] += dyp[t * n + i];
      gru_pointwise_backward_rows(ap + t * 3 * n, ghp + t * 3 * n, hp + t * n, dhp,
                                  dgxp + t * 3 * n, dghp + t * 3 * n, ddp, B, C);
      // h reaches h' directly and through gh (dh is no input of the product)
      at::addmm_out(dh, dh_direct, d_gh[t], w_hh);
      if (any[t]) zero_rows(dhp, starts.data_ptr<bool>() + t * B, B, C);
    }
  });
  const auto flat_gx = d_gx.view({T * B, 3 * C}), flat_gh = d_gh.view({T * B, 3 * C});
  auto d_w_ih = weight_grad(x.reshape({T * B, F}), flat_gx);
  auto d_w_hh = weight_grad(h_prev.view({T * B, C}), flat_gh);
  auto dx = need_dx ? weight_grad(w_ih, flat_gx.t()).reshape({T, B, F}) : torch::Tensor();
  return {dx, dh, d_w_ih, d_w_hh, flat_gx.sum(0), flat_gh.sum(0)};
}

// The four sequences above over blocks of rows on torch's threads (sequence_util.h): a
// forward returns what the single call does, its outputs joined over the rows and then every
// block's saved tensors; a backward takes those as `saved` and returns the single call's
// gradients, the state's joined over the rows and the weights' summed over the blocks.
std::vector<torch::Tensor> lstm_sequence_forward_blocks(torch::Tensor x, torch::Tensor starts,
                                                        torch::Tensor h, torch::Tensor c,
                                                        torch::Tensor w_ih, torch::Tensor w_hh,
                                                        torch::Tensor bias, int64_t blocks) {
  const auto d = sequence_dims({x, starts, h, c, w_ih, w_hh, bias});
  TORCH_CHECK(c.sizes() == h.sizes(), "the LSTM sequence needs h and c [B, C]");
  return forward_in_blocks(
      d.B, blocks, {x, starts, h, c, w_ih, w_hh, bias}, {1, 1, 0, 0, -1, -1, -1}, {1, 0, 0},
      [](const std::vector<torch::Tensor>& a, int64_t) {
        return lstm_sequence_forward(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
      });
}

std::vector<torch::Tensor> lstm_sequence_backward_blocks(
    torch::Tensor dy, torch::Tensor dh, torch::Tensor dc, torch::Tensor x, torch::Tensor starts,
    torch::Tensor w_ih, torch::Tensor w_hh, const std::vector<torch::Tensor>& saved,
    int64_t blocks, bool need_dx) {
  return backward_in_blocks(
      x.size(1), blocks, {dy, dh, dc, x, starts, w_ih, w_hh}, {1, 0, 0, 1, 1, -1, -1},
      {1, 0, 0, -1, -1, -1}, saved,
      [&](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& s, int64_t) {
        return lstm_sequence_backward(a[0], a[1], a[2], a[3], a[4], a[5], a[6], s[0], s[1], s[2],
                                      s[3], need_dx);  // s: acts, h_prev, c_prev, tanh_c
      });
}

std::vector<torch::Tensor> gru_sequence_forward_blocks(torch::Tensor x, torch::Tensor starts,
                                                       torch::Tensor h, torch::Tensor w_ih,
                                                       torch::Tensor w_hh, torch::Tensor b_ih,
                                                       torch::Tensor b_hh, int64_t blocks) {
  const auto d = sequence_dims({x, starts, h, w_ih, w_hh, b_ih, b_hh});
  return forward_in_blocks(
      d.B, blocks, {x, starts, h, w_ih, w_hh, b_ih, b_hh}, {1, 1, 0, -1, -1, -1, -1}, {1, 0},
      [](const std::vector<torch::Tensor>& a, int64_t) {
        return gru_sequence_forward(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
      });
}

std::vector<torch::Tensor> gru_sequence_backward_blocks(
    torch::Tensor dy, torch::Tensor dh, torch::Tensor x, torch::Tensor starts, torch::Tensor w_ih,
    torch::Tensor w_hh, const std::vector<torch::Tensor>& saved, int64_t blocks, bool need_dx) {
  return backward_in_blocks(
      x.size(1), blocks, {dy, dh, x, starts, w_ih, w_hh}, {1, 0, 1, 1, -1, -1},
      {1, 0, -1, -1, -1, -1}, saved,
      [&](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& s, int64_t) {
        return gru_sequence_backward(a[0], a[1], a[2], a[3], a[4], a[5], s[0], s[1], s[2],
                                     need_dx);  // s: acts, gh, h_prev
      });
}

void bind_rnn_sequence(pybind11::module& m) {
  m.def("lstm_sequence_forward_blocks", &lstm_sequence_forward_blocks,
        "lstm_sequence_forward over blocks of rows on torch's threads");
  m.def("lstm_sequence_backward_blocks", &lstm_sequence_backward_blocks,
        "lstm_sequence_backward over the blocks of lstm_sequence_forward_blocks");
  m.def("gru_sequence_forward_blocks", &gru_sequence_forward_blocks,
        "gru_sequence_forward over blocks of rows on torch's threads");
  m.def("gru_sequence_backward_blocks", &gru_sequence_backward_blocks,
        "gru_sequence_backward over the blocks of gru_sequence_forward_blocks");
  m.def("lstm_sequence_forward", &lstm_sequence_forward, "one LSTM layer over a sequence");
  m.def("lstm_sequence_backward", &lstm_sequence_backward, "its backward");
  m.def("gru_sequence_forward", &gru_sequence_forward, "one GRU layer over a sequence");
  m.def("gru_sequence_backward", &gru_sequence_backward, "its backward");
}

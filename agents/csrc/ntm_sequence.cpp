// A whole NTM sequence on CPU: LSTM controller, head projection and the fused step of
// ntm_step.cpp for T steps, forward and backward (agents/fused_sequence.py is the autograd
// node around it). Per step forward: one addmm for the recurrent part of the gates (the input
// part of all T steps is one addmm before the loop), the gate activations and the cell update
// in one call (lstm_pointwise_rows, vectorised like the fused step), one addmm for the head
// outputs, the fused step (and for replayed sampled reads, the hard read of the replayed
// slots). Backward: the
// fused step's backward, one addmm and one mm, the LSTM pointwise backward in one loop; the
// weight gradients are formed after the loop, each as one matrix product over all T B rows.
// The rest of a step (copies of h, c and the reads, resets, the outputs) runs on raw rows:
// at a small batch a tensor op per copy cost about as much as the step's arithmetic.
//
// LSTM (PyTorch's gate order i, f, g, o): gates = W_ih [x, r] + b_ih + W_hh h + b_hh,
// c' = f c + i g, h' = o tanh(c'); raw = W_head h' + b_head; r: the reads of step t - 1.
// A start at (t, b) resets row b to the initial state before step t: h = c = 0, memory =
// memory_init, the initial weightings and reads (given), and sends the gradient reaching
// that row's state there.
#include "ntm_step.h"
#include "sequence_util.h"

#include <torch/extension.h>

#include <memory>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

// slots [T, B, R] (int64): sampled reads (read_mode "sample"), replayed: each read head reads
// the given slot of memory t - 1 and keeps the one-hot weighting; log p(slot) and the entropy
// of its soft weighting (summed over heads) are returned. Without slots: soft reads (zeros).
// `expected` (with slots): also the expected reads ey [T, B, R M], each head's soft weighting
// (as a constant) times memory t - 1, Graves et al.'s eq. 2 (else ey is [T, B, 0]).
// Returns y [T, B, Y], the final h, c, memory, read_w, write_w, reads, log_prob [T, B],
// entropy [T, B], ey, then what the backward
// needs: rec [T, B, R M + C] ([reads, h] entering each step), acts [T, B, 4C], c_prev,
// tanh_c, h_all [T, B, C], raw [T, B, P]; and per step (in `steps`): memory, write_prev,
// read_prev, write_w, read_w and the fused step's saved tensors.
std::tuple<std::vector<torch::Tensor>, std::shared_ptr<SavedSteps>> sequence_forward(
    torch::Tensor x, torch::Tensor starts, torch::Tensor h, torch::Tensor c,
    torch::Tensor memory, torch::Tensor rw, torch::Tensor ww, torch::Tensor reads,
    torch::Tensor init_rw, torch::Tensor init_ww, torch::Tensor init_reads, torch::Tensor w_ih,
    torch::Tensor w_hh, torch::Tensor bias, torch::Tensor w_head, torch::Tensor b_head,
    std::optional<torch::Tensor> slots, int64_t W, int64_t R, int64_t S, double clip,
    bool sequential, bool controller_output, double memory_init, bool expected) {
  check_cpu("the NTM sequence",
            {x, starts, h, c, memory, rw, ww, reads, w_ih, w_hh, bias, w_head, b_head});
  TORCH_CHECK(x.dim() == 3 && h.dim() == 2 && memory.dim() == 3,
              "the NTM sequence needs x [T, B, F], h [B, C] and memory [B, N, M]");
  const int64_t T = x.size(0), B = x.size(1), F = x.size(2), C = h.size(1);
  TORCH_CHECK(starts.scalar_type() == torch::kBool && starts.dim() == 2 && starts.size(0) == T &&
                  starts.size(1) == B,
              "starts must be bool [T, B]");  // read by pointer below
  const int64_t N = memory.size(1), M = memory.size(2), RM = R * M, P = w_head.size(0);
  const int64_t Y = (controller_output ? C : 0) + RM;
  // every state and weight read by pointer below has the shape x and R, W imply
  check_shape(h, "h", {B, C}), check_shape(c, "c", {B, C});
  check_shape(memory, "memory", {B, N, M}), check_shape(reads, "reads", {B, R, M});
  check_shape(rw, "read_w", {B, R, N}), check_shape(ww, "write_w", {B, W, N});
  check_shape(init_rw, "the initial read_w", {R, N});
  check_shape(init_ww, "the initial write_w", {W, N});
  TORCH_CHECK(init_reads.numel() == RM, "the initial reads must hold R M = ", RM, " values");
  check_shape(w_ih, "w_ih", {4 * C, F + RM}), check_shape(w_hh, "w_hh", {4 * C, C});
  check_shape(bias, "bias", {4 * C}), check_shape(w_head, "w_head", {P, C});
  check_shape(b_head, "b_head", {P});
  auto w_rec = torch::cat({w_ih.narrow(1, F, RM), w_hh}, 1).t().contiguous();  // [RM + C, 4C]
  auto opts = x.options();
  auto gx = pooled_empty({T, B, 4 * C}, opts);
  auto gx_flat = gx.view({T * B, 4 * C});
  at::addmm_out(gx_flat, bias, x.reshape({T * B, F}), w_ih.narrow(1, 0, F).t());
  const auto any_start = starts.any(1).contiguous();
  const bool* any = any_start.data_ptr<bool>();
  // pooled (sequence_util.h): no fresh pages to first-touch on every call
  auto rec = pooled_empty({T, B, RM + C}, opts), acts = pooled_empty({T, B, 4 * C}, opts);
  auto c_prev = pooled_empty({T, B, C}, opts), tanh_c = pooled_empty({T, B, C}, opts);
  auto h_all = pooled_empty({T, B, C}, opts), ys = pooled_empty({T, B, Y}, opts);
  auto raw_all = pooled_empty({T, B, P}, opts), c_all = pooled_empty({T, B, C}, opts);
  const bool sampled = slots.has_value();
  TORCH_CHECK(sampled || !expected, "expected reads need sampled reads (slots)");
  auto logp = torch::zeros({T, B}, opts), entropy = torch::zeros({T, B}, opts);
  auto ey = torch::empty({T, B, expected ? RM : 0}, opts);
  auto init_mem = torch::full({memory.size(1), memory.size(2)}, memory_init, opts);
  const auto init_r = init_reads.contiguous();
  auto w_head_t = w_head.t();
  auto saved = std::make_shared<SavedSteps>();
  auto& steps = saved->tensors;
  steps.reserve(T * (5 + STEP_SAVED));
  const bool* start_rows = starts.data_ptr<bool>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ntm_sequence_forward", [&] {
    using V = scalar_t;  // per step, the controller's rows by pointer: no tensor but the
    const int64_t K = RM + C, n = B * C;  // products' and the fused step's
    V *recp = rec.data_ptr<V>(), *cp = c_prev.data_ptr<V>(), *ca = c_all.data_ptr<V>();
    V *tc = tanh_c.data_ptr<V>(), *hp = h_all.data_ptr<V>(), *ap = acts.data_ptr<V>();
    V* yp = ys.data_ptr<V>();
    const V *h_src = h.data_ptr<V>(), *c_src = c.data_ptr<V>(), *ir = init_r.data_ptr<V>();
    for (int64_t t = 0; t < T; ++t) {
      // resets touch only the started rows: h, c and reads in this step's copies of them
      // (rec, c_prev), memory in place (the previous step's new memory, which no step saves;
      // at t = 0 the caller's, so copied first), the weightings in copies (steps saved them)
      const bool* rows = any[t] ? start_rows + t * B : nullptr;
      if (rows) {
        if (t == 0) memory = memory.clone(at::MemoryFormat::Contiguous);
        rw = rw.clone(at::MemoryFormat::Contiguous), ww = ww.clone(at::MemoryFormat::Contiguous);
        set_rows_(memory, init_mem, rows);
        set_rows_(rw, init_rw, rows), set_rows_(ww, init_ww, rows);
      }
      V* rec_t = recp + t * B * K;  // [reads, h] of every row entering step t
      const V* rd = reads.data_ptr<V>();
      for (int64_t b = 0; b < B; ++b) {
        const bool reset = rows && rows[b];
        const V* r_b = reset ? ir : rd + b * RM;
        std::copy(r_b, r_b + RM, rec_t + b * K);
        if (reset)
          std::fill(rec_t + b * K + RM, rec_t + (b + 1) * K, V(0));
        else
          std::copy(h_src + b * C, h_src + (b + 1) * C, rec_t + b * K + RM);
      }
      V* c_in = cp + t * n;
      std::copy(c_src, c_src + n, c_in);
      if (rows) zero_rows(c_in, rows, B, C);
      auto gates = acts[t];
      at::addmm_out(gates, gx[t], rec[t], w_rec);
      lstm_pointwise_rows(ap + t * 4 * n, c_in, ca + t * n, tc + t * n, hp + t * n, B, C);
      c_src = ca + t * n, h_src = hp + t * n;
      auto raw = raw_all[t];
      at::addmm_out(raw, b_head, h_all[t], w_head_t);
      auto w_prev = sequential ? torch::roll(ww, {W}, {-1}).contiguous() : ww;
      auto out = step_forward(raw, memory, w_prev, rw, W, R, S, clip, sequential);
      TORCH_CHECK(static_cast<int64_t>(out.size()) == 4 + STEP_SAVED, "STEP_SAVED is stale");
      steps.insert(steps.end(), {memory, w_prev, rw, out[0], out[1]});
      steps.insert(steps.end(), out.begin() + 4, out.end());
      ww = out[0], rw = out[1], reads = out[2];
      if (sampled) {  // the replayed slot of the soft read weighting, read from memory t - 1
        const auto slot = (*slots)[t].unsqueeze(-1);  // [B, R, 1]
        logp[t].copy_((rw.gather(2, slot) + NTM_EPSILON).log().sum({1, 2}));
        entropy[t].copy_(-(rw * (rw + NTM_EPSILON).log()).sum({1, 2}));
        if (expected) ey[t].view({B, R, M}).copy_(torch::bmm(rw, memory));
        reads = memory.gather(1, slot.expand({B, R, memory.size(2)}));
        rw = torch::zeros_like(rw).scatter_(2, slot, 1.0);  // the one-hot weighting used
      }
      memory = out[3];
      const V* rd_new = reads.data_ptr<V>();  // y = [h, reads] or the reads alone
      for (int64_t b = 0; b < B; ++b) {
        V* y_b = yp + (t * B + b) * Y;
        if (controller_output) std::copy(h_src + b * C, h_src + (b + 1) * C, y_b);
        std::copy(rd_new + b * RM, rd_new + (b + 1) * RM, y_b + Y - RM);
      }
    }
  });
  if (T > 0) h = h_all[T - 1], c = c_all[T - 1].clone();
  std::vector<torch::Tensor> result = {ys,    h.clone(), c,      memory, rw.clone(),
                                       ww.clone(), reads, logp, entropy, ey, rec, acts, c_prev,
                                       tanh_c, h_all, raw_all};
  return {result, saved};
}

// Gradients of (x, h, c, memory, read_w, write_w, reads, init_rw, init_ww, init_reads, w_ih,
// w_hh, bias, w_head, b_head) from dy [T, B, Y] and those reaching the final state and the
// expected reads (d_ey [T, B, R M], or [T, B, 0] without them; x's only if need_dx, else
// undefined).
std::vector<torch::Tensor> sequence_backward(
    torch::Tensor dy, torch::Tensor dh, torch::Tensor dc, torch::Tensor dmem, torch::Tensor drw,
    torch::Tensor dww, torch::Tensor dreads, torch::Tensor d_logp, torch::Tensor d_entropy,
    torch::Tensor d_ey, torch::Tensor x, torch::Tensor starts, torch::Tensor w_ih, torch::Tensor w_hh,
    torch::Tensor w_head, torch::Tensor rec, torch::Tensor acts, torch::Tensor c_prev,
    torch::Tensor tanh_c, torch::Tensor h_all, torch::Tensor raw_all, const SavedSteps& saved,
    std::optional<torch::Tensor> slots, int64_t W, int64_t R, int64_t S, double clip,
    bool sequential, bool controller_output, bool straight_through, bool need_dx) {
  const auto& steps = saved.tensors;
  check_cpu("the NTM sequence",
            {dy, x, starts, w_ih, w_hh, w_head, rec, acts, c_prev, tanh_c, h_all, raw_all});
  const int64_t T = x.size(0), B = x.size(1), F = x.size(2), C = c_prev.size(2);
  const int64_t RM = rec.size(2) - C, Y = dy.size(2);
  const int64_t per_step = 5 + STEP_SAVED;
  TORCH_CHECK(static_cast<int64_t>(steps.size()) == T * per_step, "steps: wrong length");
  check_shape(dy, "dy", {T, B, (controller_output ? C : 0) + RM});
  check_shape(dh, "dh", {B, C}), check_shape(dc, "dc", {B, C});
  TORCH_CHECK(dreads.numel() == B * RM, "dreads must hold B R M = ", B * RM, " values");
  check_shape(w_ih, "w_ih", {4 * C, F + RM});
  auto w_rec = torch::cat({w_ih.narrow(1, F, RM), w_hh}, 1);  // [4C, RM + C]
  // the gradients reaching h, c and the reads: contiguous buffers updated in place by pointer
  dh = dh.clone(at::MemoryFormat::Contiguous), dc = dc.clone(at::MemoryFormat::Contiguous);
  dreads = dreads.clone(at::MemoryFormat::Contiguous);
  auto d_init_rw = torch::zeros_like(drw[0]), d_init_ww = torch::zeros_like(dww[0]);
  auto d_init_reads = torch::zeros_like(dreads[0]);
  auto d_gates = pooled_empty({T, B, 4 * C}, x.options());
  auto d_raw_all = pooled_empty(raw_all.sizes(), x.options());
  auto d_rec = torch::empty({B, RM + C}, x.options());
  const auto any_start = starts.any(1).contiguous();
  const bool* any = any_start.data_ptr<bool>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ntm_sequence_backward", [&] {
    using V = scalar_t;
    const int64_t K = RM + C, n = B * C, P = raw_all.size(2);
    V *dhp = dh.data_ptr<V>(), *dcp = dc.data_ptr<V>(), *drp = dreads.data_ptr<V>();
    const V *dyp = dy.data_ptr<V>(), *ap = acts.data_ptr<V>(), *cp = c_prev.data_ptr<V>();
    const V *tc = tanh_c.data_ptr<V>(), *drecp = d_rec.data_ptr<V>();
    V *dgp = d_gates.data_ptr<V>(), *draw = d_raw_all.data_ptr<V>();
    for (int64_t t = T - 1; t >= 0; --t) {
      const torch::Tensor* s = steps.data() + t * per_step;  // memory, w_prev, rw_prev, ww, rw
      for (int64_t b = 0; b < B; ++b) {  // y = [h, reads] or the reads alone
        const V* dy_b = dyp + (t * B + b) * Y;
        if (controller_output)
          for (int64_t k = 0; k < C; ++k) dhp[b * C + k] += dy_b[k];
        for (int64_t k = 0; k < RM; ++k) drp[b * RM + k] += dy_b[Y - RM + k];
      }
      auto g_read_w = drw, g_reads = dreads, d_mem_read = torch::Tensor();
      if (slots.has_value()) {  // back through the hard read, log p(slot) and the entropy
        const auto slot = (*slots)[t].unsqueeze(-1);
        const auto &memory = s[0], &soft = s[4];
        const auto hard = torch::zeros_like(soft).scatter_(2, slot, 1.0);
        d_mem_read = torch::bmm(hard.transpose(1, 2), dreads);  // reads = hard memory
        if (d_ey.size(2) > 0)  // ey = soft memory, the soft weighting a constant
          d_mem_read.baddbmm_(soft.transpose(1, 2), d_ey[t].view({B, R, -1}));
        // the used weighting passes its gradient to the soft one only if straight-through
        auto d_soft = straight_through ? drw + torch::bmm(dreads, memory.transpose(1, 2))
                                       : torch::zeros_like(soft);
        const auto shifted = soft + NTM_EPSILON;  // H = -sum_i w_i log(w_i + eps)
        d_soft -= d_entropy[t].view({B, 1, 1}) * (shifted.log() + soft / shifted);
        const auto d_picked =
            d_logp[t].view({B, 1, 1}).expand({B, R, 1}) / shifted.gather(2, slot);
        g_read_w = d_soft.scatter_add(2, slot, d_picked);
        g_reads = torch::zeros_like(dreads);
      }
      auto g = step_backward(dww.contiguous(), g_read_w.contiguous(), g_reads, dmem.contiguous(),
                             raw_all[t], s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8],
                             s[9], s[10], s[11], s[12], W, R, S, clip, sequential);
      dmem = d_mem_read.defined() ? g[1] + d_mem_read : g[1], drw = g[3];
      dww = sequential ? torch::roll(g[2], {-W}, {-1}) : g[2];
      const V* g_raw = g[0].data_ptr<V>();
      std::copy(g_raw, g_raw + B * P, draw + t * B * P);
      dh.addmm_(g[0], w_head);  // back through raw = W_head h + b_head
      lstm_pointwise_backward_rows(ap + t * 4 * n, cp + t * n, tc + t * n, dhp, dcp,
                                   dgp + t * 4 * n, B, C);
      at::mm_out(d_rec, d_gates[t], w_rec);  // back through the gates' [reads, h] part
      for (int64_t b = 0; b < B; ++b) {
        std::copy(drecp + b * K, drecp + b * K + RM, drp + b * RM);
        std::copy(drecp + b * K + RM, drecp + (b + 1) * K, dhp + b * C);
      }
      if (any[t]) {  // reset rows: their gradient goes to the initial state, in place
        const bool* rows = starts.data_ptr<bool>() + t * B;
        add_rows_(d_init_rw, drw, rows), add_rows_(d_init_ww, dww, rows);
        add_rows_(d_init_reads, dreads, rows);
        for (const auto& d : {dh, dc, dmem, drw, dww, dreads}) zero_rows_(d, rows);
      }
    }
  });
  // weight gradients over all T B rows (weight_grad: each as one (small^T big)^T product)
  auto flat_g = d_gates.view({T * B, 4 * C});
  auto d_w_rec = weight_grad(rec.view({T * B, RM + C}), flat_g);
  auto d_w_x = weight_grad(x.reshape({T * B, F}), flat_g);
  auto d_w_ih = torch::cat({d_w_x, d_w_rec.narrow(1, 0, RM)}, 1);
  auto flat_raw = d_raw_all.view({T * B, -1});
  auto dx = need_dx ? weight_grad(w_ih.narrow(1, 0, F), flat_g.t()).reshape({T, B, F})
                    : torch::Tensor();
  return {dx,
          dh,
          dc,
          dmem,
          drw,
          dww,
          dreads,
          d_init_rw,
          d_init_ww,
          d_init_reads,
          d_w_ih,
          d_w_rec.narrow(1, RM, C).contiguous(),
          flat_g.sum(0),
          weight_grad(h_all.view({T * B, C}), flat_raw),
          flat_raw.sum(0)};
}

// sequence_forward over `blocks` blocks of rows on torch's threads (sequence_util.h): y, the
// final state, log_prob and entropy joined over the rows, then every block's saved tensors;
// and each block's per-step ones
std::tuple<std::vector<torch::Tensor>, std::vector<std::shared_ptr<SavedSteps>>>
sequence_forward_blocks(
    torch::Tensor x, torch::Tensor starts, torch::Tensor h, torch::Tensor c,
    torch::Tensor memory, torch::Tensor rw, torch::Tensor ww, torch::Tensor reads,
    torch::Tensor init_rw, torch::Tensor init_ww, torch::Tensor init_reads, torch::Tensor w_ih,
    torch::Tensor w_hh, torch::Tensor bias, torch::Tensor w_head, torch::Tensor b_head,
    std::optional<torch::Tensor> slots, int64_t W, int64_t R, int64_t S, double clip,
    bool sequential, bool controller_output, double memory_init, bool expected, int64_t blocks) {
  TORCH_CHECK(x.dim() == 3, "the NTM sequence needs x [T, B, F]");
  const int64_t T = x.size(0), B = x.size(1);  // each block checks the rest of the shapes
  TORCH_CHECK(starts.dim() == 2 && starts.size(0) == T && starts.size(1) == B,
              "starts must be bool [T, B]");
  const std::vector<std::pair<const char*, torch::Tensor>> state = {
      {"h", h}, {"c", c}, {"memory", memory}, {"read_w", rw}, {"write_w", ww}, {"reads", reads}};
  for (const auto& [name, t] : state)
    TORCH_CHECK_VALUE(t.dim() >= 1 && t.size(0) == B, name, " must have B = ", B,
                      " rows (x's batch), got shape ", t.sizes());
  if (slots)
    TORCH_CHECK_VALUE(slots->dim() == 3 && slots->size(0) == T && slots->size(1) == B,
                      "slots must be [T, B, R], got ", slots->sizes());
  const std::vector<torch::Tensor> args = {
      x, starts, h, c, memory, rw, ww, reads, init_rw, init_ww, init_reads, w_ih, w_hh, bias,
      w_head, b_head, slots ? *slots : torch::Tensor()};
  std::vector<std::shared_ptr<SavedSteps>> steps(blocks);
  auto out = forward_in_blocks(
      B, blocks, args, {1, 1, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, 1},
      {1, 0, 0, 0, 0, 0, 0, 1, 1, 1},  // y [T, B, Y], the state [B, ...], log_prob, entropy, ey
      [&](const std::vector<torch::Tensor>& a, int64_t i) {
        std::optional<torch::Tensor> block_slots;
        if (a[16].defined()) block_slots = a[16];
        auto [result, block_steps] = sequence_forward(
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12],
            a[13], a[14], a[15], block_slots, W, R, S, clip, sequential, controller_output,
            memory_init, expected);
        steps[i] = std::move(block_steps);
        return result;
      });
  return {out, steps};
}

// sequence_backward over the blocks of sequence_forward_blocks (`saved`: the tensors it returned
// after the joined ones; `steps`: its per-step ones): the gradients of x and the incoming state
// joined over the rows, those of the initial state and the weights summed
std::vector<torch::Tensor> sequence_backward_blocks(
    torch::Tensor dy, torch::Tensor dh, torch::Tensor dc, torch::Tensor dmem, torch::Tensor drw,
    torch::Tensor dww, torch::Tensor dreads, torch::Tensor d_logp, torch::Tensor d_entropy,
    torch::Tensor d_ey, torch::Tensor x, torch::Tensor starts, torch::Tensor w_ih,
    torch::Tensor w_hh, torch::Tensor w_head, const std::vector<torch::Tensor>& saved,
    const std::vector<std::shared_ptr<SavedSteps>>& steps, std::optional<torch::Tensor> slots,
    int64_t W, int64_t R, int64_t S, double clip, bool sequential, bool controller_output,
    bool straight_through, bool need_dx) {
  const std::vector<torch::Tensor> args = {
      dy, dh, dc, dmem, drw, dww, dreads, d_logp, d_entropy, d_ey, x, starts, w_ih, w_hh,
      w_head, slots ? *slots : torch::Tensor()};
  return backward_in_blocks(
      x.size(1), static_cast<int64_t>(steps.size()), args,
      {1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, -1, -1, -1, 1},
      {1, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1},  // dx, the state's, the sums
      saved,
      [&](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& sv, int64_t i) {
        std::optional<torch::Tensor> block_slots;
        if (a[15].defined()) block_slots = a[15];
        return sequence_backward(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
                                 a[10], a[11], a[12], a[13], a[14], sv[0], sv[1], sv[2], sv[3],
                                 sv[4], sv[5], *steps[i], block_slots, W, R, S, clip,
                                 sequential, controller_output, straight_through, need_dx);
      });
}

void bind_sequence(pybind11::module& m) {
  pybind11::class_<SavedSteps, std::shared_ptr<SavedSteps>>(m, "SavedSteps")
      .def(pybind11::init([](std::vector<torch::Tensor> tensors) {
             return std::make_shared<SavedSteps>(SavedSteps{std::move(tensors)});
           }),
           "holds the given per-step tensors (the list tensors() gave)")
      .def("tensors", [](const SavedSteps& s) { return s.tensors; }, "the per-step tensors");
  m.def("sequence_forward", &sequence_forward, "LSTM-controlled NTM over a sequence, forward");
  m.def("sequence_backward", &sequence_backward, "LSTM-controlled NTM over a sequence, backward");
  m.def("sequence_forward_blocks", &sequence_forward_blocks,
        "sequence_forward over blocks of rows on torch's threads");
  m.def("sequence_backward_blocks", &sequence_backward_blocks,
        "sequence_backward over the blocks of sequence_forward_blocks");
}

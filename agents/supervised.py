"""The NTM paper's tasks as supervised sequence learning, for any memory core.

Graves et al. 2014, sec. 4: Copy (4.1), RepeatCopy (4.2) and AssociativeRecall (4.3), as the
paper poses them: random bit vectors in, a delimiter channel, then the answer; binary
cross-entropy on the output phase only. A core plus a linear read-out (:class:`Reader`) is
trained on fresh batches and scored in **bits wrong per sequence** (the paper's figures 3, 8
and 11: output bits thresholded at 0.5, summed over the sequence, averaged over sequences).
This is the reference check that a core implementing the paper works before any RL number
about it means anything (issue 11).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from agents.checks import check_int, check_optional_positive, check_positive
from agents.cores import MemoryCore

__all__ = ["TASKS", "Batch", "Reader", "Task", "bits_wrong", "make_core", "train_step"]


@dataclass
class Batch:
    """Inputs ``x [T, B, F]``, targets ``y [T, B, O]`` and the output-phase mask ``[T, B]``."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor


def _bits(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=gen).float()


def copy_batch(batch: int, length: int, gen: torch.Generator, width: int = 8) -> Batch:
    """Copy: ``length`` random ``width``-bit vectors, a delimiter step (channel ``width``),
    then ``length`` blank steps in which the vectors must be reproduced. ``T = 2L + 1``."""
    L = length
    seq = _bits(gen, L, batch, width)
    x = torch.zeros(2 * L + 1, batch, width + 1)
    x[:L, :, :width] = seq
    x[L, :, width] = 1.0
    y = torch.zeros(2 * L + 1, batch, width)
    y[L + 1 :] = seq
    mask = torch.zeros(2 * L + 1, batch, dtype=torch.bool)
    mask[L + 1 :] = True
    return Batch(x, y, mask)


REPEATS = (1, 10)  # the paper's training range of repeat counts


def repeat_copy_batch(
    batch: int, length: int, gen: torch.Generator, width: int = 8, repeats: int | None = None
) -> Batch:
    """RepeatCopy: the sequence, then a delimiter step carrying the repeat count ``n`` in
    channel ``width + 1`` (normalised to mean 0, variance 1 over 1..10, as in the paper); the
    target is the sequence ``n`` times then an end marker (output channel ``width``).
    ``T = L + 1 + n L + 1``; ``n`` is drawn from 1..10 per batch unless given."""
    L = length
    lo, hi = REPEATS
    n = int(torch.randint(lo, hi + 1, (1,), generator=gen)) if repeats is None else repeats
    mean, std = (lo + hi) / 2, ((hi - lo + 1) ** 2 - 1) ** 0.5 / 12**0.5
    T = L + 1 + n * L + 1
    seq = _bits(gen, L, batch, width)
    x = torch.zeros(T, batch, width + 2)
    x[:L, :, :width] = seq
    x[L, :, width] = 1.0
    x[L, :, width + 1] = (n - mean) / std
    y = torch.zeros(T, batch, width + 1)
    y[L + 1 : T - 1, :, :width] = seq.repeat(n, 1, 1)
    y[T - 1, :, width] = 1.0
    mask = torch.zeros(T, batch, dtype=torch.bool)
    mask[L + 1 :] = True
    return Batch(x, y, mask)


def associative_recall_batch(
    batch: int, items: int, gen: torch.Generator, width: int = 6, item_len: int = 3
) -> Batch:
    """AssociativeRecall: ``items`` items of ``item_len`` ``width``-bit vectors, each after an
    item delimiter (channel ``width``); then a query delimiter (channel ``width + 1``), one of
    the items (not the last), a second query delimiter, and ``item_len`` blank steps in which
    the item that followed the query must be produced. ``T = (items + 1)(item_len + 1) + 1 +
    item_len``."""
    if items < 2:
        raise ValueError(f"items must be >= 2 (a query needs a next item), got {items}")
    k = item_len
    data = _bits(gen, items, k, batch, width)
    q = torch.randint(0, items - 1, (batch,), generator=gen)
    rows = torch.arange(batch)
    T = (items + 1) * (k + 1) + 1 + k
    x = torch.zeros(T, batch, width + 2)
    for i in range(items):
        x[i * (k + 1), :, width] = 1.0
        x[i * (k + 1) + 1 : (i + 1) * (k + 1), :, :width] = data[i]
    qs = items * (k + 1)
    x[qs, :, width + 1] = 1.0
    x[qs + 1 : qs + 1 + k, :, :width] = data[q, :, rows].transpose(0, 1)
    x[qs + 1 + k, :, width + 1] = 1.0
    y = torch.zeros(T, batch, width)
    y[T - k :] = data[q + 1, :, rows].transpose(0, 1)
    mask = torch.zeros(T, batch, dtype=torch.bool)
    mask[T - k :] = True
    return Batch(x, y, mask)


@dataclass(frozen=True)
class Task:
    """A task: ``make(batch, size, gen) -> Batch``, the paper's training range of ``size``
    (sequence length, or number of items), features in and out, and sizes to report."""

    make: Callable[..., Batch]
    train_range: tuple[int, int]
    input_size: int
    output_size: int
    eval_sizes: tuple[int, ...]


TASKS: Mapping[str, Task] = {
    "copy": Task(copy_batch, (1, 20), 9, 8, (10, 20, 30, 50, 80, 100, 120)),
    "repeat-copy": Task(repeat_copy_batch, (1, 10), 10, 9, (5, 10, 15, 20)),
    "associative-recall": Task(associative_recall_batch, (2, 6), 8, 6, (3, 6, 8, 10, 12)),
}


def make_core(agent: str, input_size: int, core_kwargs: Mapping[str, Any] | None = None):
    """A core of any registered memory agent, with its registry defaults and ``core_kwargs``."""
    from agents.registry import get_agent

    spec = get_agent(agent)
    if not spec.is_memory_agent:
        raise ValueError(f"agent must be a memory-ppo agent (it has a core), got {agent!r}")
    return spec.core_class(input_size, **{**spec.core_kwargs, **(core_kwargs or {})})


class Reader(nn.Module):
    """A memory core and a linear read-out: ``x [T, B, F] -> logits [T, B, O]``.

    Each sequence starts from the core's initial state. Cores with sampled internal decisions
    are run deterministically (argmax): the read-out trains by backpropagation only.
    """

    def __init__(self, core: MemoryCore, output_size: int) -> None:
        super().__init__()
        self.core = core
        self.head = nn.Linear(core.output_size, check_positive("output_size", output_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from agents.cores import CoreExtras

        T, B = x.shape[:2]
        starts = torch.zeros(T, B, dtype=torch.bool, device=x.device)
        starts[0] = True
        extras = CoreExtras(deterministic=True) if self.core.internal_action_nvec else None
        y, _ = self.core(x, self.core.initial_state(B, x.device), starts, extras)
        return self.head(y)


def bits_wrong(logits: torch.Tensor, batch: Batch) -> float:
    """Output bits wrong per sequence (thresholded at 0.5), averaged over the batch."""
    wrong = ((logits > 0) != (batch.y > 0.5)) & batch.mask.unsqueeze(-1)
    return float(wrong.sum()) / batch.x.shape[1]


def masked_bce(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Binary cross-entropy per output bit, averaged over the output phase."""
    loss = nn.functional.binary_cross_entropy_with_logits(logits, batch.y, reduction="none")
    m = batch.mask.unsqueeze(-1).to(loss.dtype)
    return (loss * m).sum() / (m.sum() * batch.y.shape[-1])


def nan_source(model: Reader, batch: Batch) -> str:
    """Rerun a step's forward and backward under anomaly detection: which backward function
    first returns NaN (torch names it), or that it did not recur."""
    model.zero_grad()
    try:
        with torch.autograd.detect_anomaly(check_nan=True):
            masked_bce(model(batch.x), batch).backward()
    except RuntimeError as exc:
        return "anomaly detection: " + str(exc).splitlines()[0]
    finally:
        model.zero_grad()
    return "anomaly detection: no NaN on a rerun"


def train_step(
    model: Reader,
    opt: torch.optim.Optimizer,
    task: Task,
    batch_size: int,
    gen: torch.Generator,
    clip: float = 10.0,
    clip_norm: float | None = None,
) -> tuple[float, float]:
    """One optimiser step on a fresh batch whose size is drawn from ``task.train_range``;
    gradients clipped elementwise to ``[-clip, clip]`` (as pytorch-ntm), then, if
    ``clip_norm`` is given, rescaled to a global norm of at most ``clip_norm``. Returns
    (loss, bits wrong per sequence of that batch). A NaN loss or gradient raises
    ``FloatingPointError`` before the step, so the model keeps its last finite weights."""
    check_int("batch_size", batch_size, 1)
    check_optional_positive("clip_norm", clip_norm)
    lo, hi = task.train_range
    size = int(torch.randint(lo, hi + 1, (1,), generator=gen))
    batch = task.make(batch_size, size, gen)
    logits = model(batch.x)
    loss = masked_bce(logits, batch)
    opt.zero_grad()
    loss.backward()
    bad = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.isnan().any()]
    if not torch.isfinite(loss) or bad:  # the value clip would pass NaN on, the norm clip spread it
        raise FloatingPointError(
            f"non-finite training step at size {size}: loss {float(loss.detach())}, "
            f"NaN gradients in {bad}; {nan_source(model, batch)}"
        )
    nn.utils.clip_grad_value_(model.parameters(), clip)
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    opt.step()
    return float(loss.detach()), bits_wrong(logits.detach(), batch)


@torch.no_grad()
def evaluate(model: Reader, task: Task, sizes, batch_size: int, seed: int) -> dict[int, float]:
    """Bits wrong per sequence at each size, on ``batch_size`` fixed sequences per size."""
    out = {}
    for size in sizes:
        gen = torch.Generator().manual_seed(seed + size)
        batch = task.make(batch_size, size, gen)
        out[size] = bits_wrong(model(batch.x), batch)
    return out

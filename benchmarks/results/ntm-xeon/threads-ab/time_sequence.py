"""One training sequence (128 steps, forward + backward) of the NTM or LSTM core, timed.

    python time_sequence.py CORE B LABEL THREADS [BLOCKS]

CORE: ``ntm`` (bench_train's NTM: 128 x 20 memory, 64-unit LSTM controller, episode starts
with probability 0.02, ms per step) or ``lstm`` (64 units, starts every 50 steps, ms per
sequence). THREADS: torch threads. BLOCKS: force this many blocks of rows
(``agents.fused_step.row_blocks``; code before commit e785361 has none). Prints the best and
median of 5 calls after one warm-up. Run from the checkout under test (e.g. a worktree of the
old commit, with ``PYTHONPATH`` pointing at it) with its own ``TORCH_EXTENSIONS_DIR``.
"""

import sys
import time

import torch

from agents import fused_step
from agents.cores import LSTMCore
from agents.cores.base import CoreExtras
from agents.cores.ntm import NTMCore

core_name, B, label, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if len(sys.argv) > 5:
    fused_step.row_blocks = lambda batch: int(sys.argv[5])
torch.set_num_threads(threads)
T = 128
torch.manual_seed(0)
if core_name == "ntm":
    core, F, per = NTMCore(8, 128, 20, controller_size=64, fused=True), 8, T
    starts = (torch.rand(T, B, generator=torch.Generator().manual_seed(1)) < 0.02).float()
    starts[0] = 1
else:
    core, F, per = LSTMCore(16, 64), 16, 1
    starts = torch.zeros(T, B)
    starts[::50] = 1
x = torch.randn(T, B, F)


def once():
    y, _ = core(x, core.initial_state(B), starts, CoreExtras())
    y.square().mean().backward()


once()
times = []
for _ in range(5):
    start = time.perf_counter()
    once()
    times.append((time.perf_counter() - start) * 1e3 / per)
unit = "ms/step" if per > 1 else "ms"
print(f"{label} B {B} threads {threads} best {min(times):.3f} med {sorted(times)[2]:.3f} {unit}")

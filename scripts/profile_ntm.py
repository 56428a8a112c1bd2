"""Where an NTM training step's time goes: one minibatch sequence, forward and backward.

    python scripts/profile_ntm.py --batch 16 64 256 --out benchmarks/results/ntm-profile/README.md

For each batch size ``B`` (sequences in a minibatch): the NTM core of
``scripts/bench_train.py`` (128 x 20 memory, 64-unit LSTM controller, 1 read + 1 write head)
replays ``--steps`` steps with episode starts, then backpropagates. Reported: milliseconds
per step (forward + backward; best and median of 5), aten ops per step forward and backward,
how many of them return a whole ``[B, N, M]`` memory or more (bandwidth-bound passes; at
small ``B`` parameter gradients count too), and the top
ops by self CPU time (torch.profiler). Single-threaded. ``--read-mode sample`` profiles the
sampled-read NTM (``stochastic-ntm``), its read log-probabilities and entropies in the loss;
``--write-mode sequential`` the write of issue 10 (head ``h`` writes slot ``W t + h``).
With ``--fused`` a soft core trains as one autograd node over the sequence
(:mod:`agents.fused_sequence`); ``--step-wise`` profiles it step by step instead.
``--start-prob P`` draws an episode start at each (step, row) with probability P, as a
rollout of ~1/P-step episodes has them; the default pattern resets at three steps only,
which hides what resets cost (e.g. ``--start-prob 0.02`` for DelayedRecall delay 48).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from agents.benchutil import (  # noqa: E402
    check_output_paths,
    command_line,
    header,
    kernel_isa,
    machine,
    provenance,
    write_results,
)

SLOTS, WIDTH, CONTROLLER, INPUT = 128, 20, 64, 11


class OpLog(TorchDispatchMode):
    """Records each aten op and the largest number of elements it returns."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else [out]
        size = max((o.numel() for o in outs if isinstance(o, torch.Tensor)), default=0)
        self.ops.append((func.overloadpacket.__name__, size))
        return out


def profile(
    batch: int,
    steps: int,
    compile: bool = False,
    fused: bool = False,
    read_mode: str = "soft",
    write_mode: str = "soft",
    step_wise: bool = False,
    start_prob: float | None = None,
) -> dict:
    from agents.cores.base import CoreExtras
    from agents.cores.ntm import NTMCore

    torch.manual_seed(0)
    core = NTMCore(
        INPUT, SLOTS, WIDTH, controller_size=CONTROLLER, compile=compile, fused=fused,
        read_mode=read_mode, write_mode=write_mode, fused_sequence=not step_wise,
    )  # fmt: skip
    x = torch.randn(steps, batch, INPUT)
    starts = torch.zeros(steps, batch)
    if start_prob is None:
        starts[steps // 3 :: steps // 3, : batch // 2 + 1] = 1  # resets mid-sequence, as in PPO
    else:  # episodes of ~1 / p steps, as in a rollout of such a task
        starts = torch.rand(steps, batch, generator=torch.Generator().manual_seed(1)) < start_prob
        starts = starts.float()
    starts[0] = 1

    def loss(y, extras):
        if read_mode == "soft":
            return y.square().mean()
        return y.square().mean() + extras.log_prob.mean() + extras.entropy.mean()

    def once():
        extras = CoreExtras()
        y, _ = core(x, core.initial_state(batch), starts, extras)
        loss(y, extras).backward()

    once()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        once()
        times.append((time.perf_counter() - start) * 1e3 / steps)
    big = batch * SLOTS * WIDTH
    logs = {}
    y, state = core(x[:-1], core.initial_state(batch), starts[:-1])
    state = tuple(s.detach().requires_grad_() for s in state)  # BPTT: grads flow into t-1
    extras = CoreExtras()
    with OpLog() as fwd:
        y, _ = core(x[-1:], type(core.initial_state(1))(*state), starts[-1:], extras)
    with OpLog() as bwd:
        loss(y, extras).backward()
    for name, log in (("forward", fwd), ("backward", bwd)):
        logs[f"{name}_ops"] = len(log.ops)
        logs[f"{name}_memory_ops"] = sum(size >= big for _, size in log.ops)
    with torch.profiler.profile() as prof:
        once()
    top = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:8]
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    return {
        "batch": batch,
        "steps": steps,
        "compile": compile,
        "fused": fused,
        "read_mode": read_mode,
        "write_mode": write_mode,
        "step_wise": step_wise,
        "start_prob": start_prob,
        "kernel_isa": kernel_isa(),
        "ms_per_step_best": min(times),
        "ms_per_step_median": sorted(times)[2],
        **logs,
        "top_ops": [(e.key, e.count / steps, 100 * e.self_cpu_time_total / total) for e in top],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--compile", action="store_true", help="NTMCore(compile=True)")
    parser.add_argument("--fused", action="store_true", help="NTMCore(fused=True): C++ kernel")
    parser.add_argument("--read-mode", choices=("soft", "sample"), default="soft")
    parser.add_argument("--write-mode", choices=("soft", "sequential"), default="soft")
    parser.add_argument(
        "--step-wise",
        action="store_true",
        help="NTMCore(fused_sequence=False): a fused core runs step by step, not as one node "
        "(needs --fused and --read-mode soft, where the sequence runs as one node)",
    )
    parser.add_argument(
        "--start-prob",
        type=float,
        default=None,
        help="each (step, row) starts an episode with this probability (episodes of ~1/p "
        "steps); default: all rows at t = 0 and half the rows at each third of the sequence",
    )
    parser.add_argument("--out", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    if args.start_prob is not None and not 0.0 <= args.start_prob <= 1.0:
        parser.error(f"--start-prob must be in [0, 1], got {args.start_prob}")
    if args.steps < 3:
        parser.error(f"--steps must be >= 3, got {args.steps}")
    if any(b < 1 for b in args.batch):
        parser.error(f"--batch values must be >= 1, got {args.batch}")
    if args.step_wise and not (args.fused and args.read_mode == "soft"):
        # otherwise the core runs step by step anyway: --step-wise would change nothing
        parser.error("--step-wise needs --fused and --read-mode soft")
    if args.compile and (args.fused or args.read_mode == "sample"):
        parser.error("--compile takes neither --fused nor --read-mode sample (NTMCore's rule)")
    try:
        check_output_paths(out=args.out, json=args.json)
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(1)
    step = args.step_wise
    results = [
        profile(
            b,
            args.steps,
            args.compile,
            args.fused,
            args.read_mode,
            args.write_mode,
            step,
            args.start_prob,
        )  # fmt: skip
        for b in args.batch
    ]
    lines = [
        "| B | ms/step best (median) | ops/step fwd (memory-sized) | ops/step bwd (memory-sized)"
        " | top ops: calls/step, % self CPU |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        top = "; ".join(
            f"{k.split(': ')[-1].removeprefix('aten::')} {c:.0f}, {p:.0f}%"
            for k, c, p in r["top_ops"][:5]
        )
        lines.append(
            f"| {r['batch']} | {r['ms_per_step_best']:.2f} ({r['ms_per_step_median']:.2f}) "
            f"| {r['forward_ops']} ({r['forward_memory_ops']}) "
            f"| {r['backward_ops']} ({r['backward_memory_ops']}) | {top} |"
        )
        print(lines[-1], flush=True)
    command = command_line("profile_ntm.py", argv)
    text = (
        "# NTM training step: where the time goes\n\n"
        f"{header(command, machine())}\n" + "\n".join(lines) + "\n"
    )
    write_results(text, {**provenance(command), "results": results}, args.out, args.json)


if __name__ == "__main__":
    main()

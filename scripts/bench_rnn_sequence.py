"""LSTMCore's and GRUCore's C++ sequence loops against nn.LSTM / nn.GRU: one training
sequence, forward + backward.

    python scripts/bench_rnn_sequence.py --cores lstm gru --batch 8 64 256 --out RESULTS.md

For each core and batch size ``B`` (sequences in a minibatch), a one-layer core of
``--hidden`` units (the core of ``scripts/bench_train.py``) runs ``--steps`` steps of
``--features`` inputs with episode starts every 50 steps, then backpropagates a loss on every
output, once with ``fused=True`` (:mod:`agents.fused_rnn`) and once with ``fused=False`` (the
torch layer), alternating over ``--rounds`` rounds and keeping each one's best (the machines
here are shared and noisy). Reported: milliseconds per sequence, fused / torch, and the
largest difference between the two in outputs and weight gradients. Float32, 1 thread.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from agents.benchutil import (  # noqa: E402
    check_output_paths,
    command_line,
    header,
    kernel_isa,
    machine,
    provenance,
    write_results,
)
from agents.cores import GRUCore, LSTMCore  # noqa: E402

CORES = {"lstm": LSTMCore, "gru": GRUCore}


def sequence_ms(core, x, state, starts) -> tuple[float, list[torch.Tensor]]:
    """Milliseconds for one forward + backward, and the output and weight gradients."""
    core.zero_grad(set_to_none=True)
    start = time.perf_counter()
    y, _ = core(x, state, starts)
    y.square().mean().backward()
    elapsed = (time.perf_counter() - start) * 1e3
    return elapsed, [y.detach(), *(p.grad for p in core.parameters())]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", nargs="+", choices=list(CORES), default=list(CORES))
    parser.add_argument("--batch", nargs="+", type=int, default=[8, 64, 256])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    for name in ("steps", "features", "hidden", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if any(b < 1 for b in args.batch):
        parser.error(f"--batch sizes must be >= 1, got {args.batch}")
    try:
        check_output_paths(out=args.out, json=args.json)
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(1)
    lines = [
        "| core | batch | torch layer ms | fused ms | fused / torch | max difference |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    results = []
    for name, batch in itertools.product(args.cores, args.batch):
        torch.manual_seed(0)
        fused = CORES[name](args.features, args.hidden, fused=True)
        reference = CORES[name](args.features, args.hidden, fused=False)
        reference.load_state_dict(fused.state_dict())
        x = torch.randn(args.steps, batch, args.features)
        starts = torch.zeros(args.steps, batch)
        starts[::50] = 1
        state = fused.initial_state(batch)
        _, want = sequence_ms(reference, x, state, starts)
        _, got = sequence_ms(fused, x, state, starts)
        diff = max((a - b).abs().max().item() for a, b in zip(got, want, strict=True))
        times = {"torch": [], "fused": []}
        for _ in range(args.rounds):
            times["torch"].append(sequence_ms(reference, x, state, starts)[0])
            times["fused"].append(sequence_ms(fused, x, state, starts)[0])
        best = {k: min(v) for k, v in times.items()}
        results.append(
            {"core": name, "batch": batch, "ms_best": best, "ms_all": times, "max_diff": diff}
        )
        lines.append(
            f"| {name} | {batch} | {best['torch']:,.1f} | {best['fused']:,.1f} | "
            f"{best['fused'] / best['torch']:.2f} | {diff:.1e} |"
        )
        print(lines[-1], flush=True)
    command = command_line("bench_rnn_sequence.py", argv)
    text = (  # the kernel build is known once the fused core has loaded the extension
        f"# LSTM / GRU training sequence, forward + backward\n\n{header(command, machine())}\n"
        f"Kernel build: {kernel_isa()}. One layer: {args.features} inputs, {args.hidden} units, "
        f"{args.steps} steps, starts every 50.\n\n"
    )
    write_results(
        text + "\n".join(lines) + "\n",
        {**provenance(command), "kernel_isa": kernel_isa(), "results": results},
        args.out,
        args.json,
    )


if __name__ == "__main__":
    main()

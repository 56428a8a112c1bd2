"""The fused NTM step's kernel alone, forward + backward, at a git revision against this tree.

    python scripts/bench_ntm_kernel.py --base e503e9c --batch 8 64 256 --out RESULTS.md

Builds ``agents/csrc`` as it was at ``--base`` (under another module name) next to this
checkout's build, then times one fused step forward and backward (128 x 20 memory, one read
and one write head, shift range 1, float32, 1 thread) on the same inputs, alternating the two
builds over ``--rounds`` rounds of ``--calls`` calls and keeping each one's best round (the
machines here are shared and noisy). Reported: microseconds per call and new / base, with
the largest difference between the two builds' forward outputs. ``MEMENVS_NTM_GENERIC_KERNEL=1``
times this tree's generic build.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from agents import fused_step  # noqa: E402
from agents.benchutil import (  # noqa: E402
    check_output_paths,
    command_line,
    header,
    kernel_isa,
    machine,
    provenance,
    write_results,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOTS, WIDTH, SHIFTS = 128, 20, 3


def base_sources(rev: str) -> list[str]:
    """The files of ``agents/csrc`` at ``rev``; ``ValueError`` if ``rev`` is not a commit of
    this checkout or has no C++ sources there (checked before anything is built)."""
    if rev.startswith("-"):  # git would read it as an option
        raise ValueError(f"--base: {rev!r} is not a git revision")
    verify = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if verify.returncode != 0:
        raise ValueError(f"--base: {rev!r} is not a commit of the checkout at {ROOT}")
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "agents/csrc/"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if not any(name.endswith(".cpp") for name in names):
        raise ValueError(f"--base: {rev!r} has no agents/csrc/*.cpp to build")
    return names


def build_base(rev: str, directory: str, names: list[str]):
    """The extension as it was at ``rev`` (its ``agents/csrc`` files ``names``), built as
    ``memenvs_ntm_base``."""
    from torch.utils.cpp_extension import load

    for name in names:
        text = subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        # pybind registers a class once per process: the base's holder gets another name
        text = text.replace("SavedSteps", "SavedStepsBase")
        with open(os.path.join(directory, os.path.basename(name)), "w") as f:
            f.write(text)
    sources = [os.path.join(directory, os.path.basename(n)) for n in names if n.endswith(".cpp")]
    return load(name="memenvs_ntm_base", sources=sources, extra_cflags=fused_step.CFLAGS)


def inputs(batch: int, seed: int = 0):
    """Raw head outputs, memory, previous weightings and the gradients reaching the outputs."""
    g = torch.Generator().manual_seed(seed)
    P = 2 * (WIDTH + 3 + SHIFTS) + 2 * WIDTH
    raw = torch.randn(batch, P, generator=g)
    memory = torch.randn(batch, SLOTS, WIDTH, generator=g) * 0.5
    wp, rp = (torch.softmax(torch.randn(batch, 1, SLOTS, generator=g), -1) for _ in range(2))
    grads = [
        torch.randn(batch, 1, SLOTS, generator=g),
        torch.randn(batch, 1, SLOTS, generator=g),
        torch.randn(batch, 1, WIDTH, generator=g),
        torch.randn(batch, SLOTS, WIDTH, generator=g),
    ]
    return (raw, memory, wp, rp), grads


def time_calls(ext, args, grads, calls: int) -> float:
    """Microseconds per forward + backward call."""
    raw, memory, wp, rp = args
    start = time.perf_counter()
    for _ in range(calls):
        out = ext.forward(raw, memory, wp, rp, 1, 1, SHIFTS, 20.0, False)
        ext.backward(*grads, raw, memory, wp, rp, out[0], out[1], *out[4:], 1, 1, SHIFTS, 20.0,
                     False)  # fmt: skip
    return (time.perf_counter() - start) / calls * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--batch", nargs="+", type=int, default=[64])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    for name in ("rounds", "calls"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if any(b < 1 for b in args.batch):
        parser.error(f"--batch sizes must be >= 1, got {args.batch}")
    try:  # before building anything
        names = base_sources(args.base)
        check_output_paths(out=args.out, json=args.json)
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(1)
    new = fused_step.load()
    with tempfile.TemporaryDirectory() as tmp:
        base = build_base(args.base, tmp, names)
    lines = [
        f"Kernel build of this tree: {kernel_isa()}. Base: `{args.base}`.",
        "",
        "| batch | base us | this tree us | this / base | max forward difference |",
        "| --- | --- | --- | --- | --- |",
    ]
    results = []
    for batch in args.batch:
        call_args, grads = inputs(batch)
        out_base = base.forward(*call_args, 1, 1, SHIFTS, 20.0, False)
        out_new = new.forward(*call_args, 1, 1, SHIFTS, 20.0, False)
        diff = max((a - b).abs().max().item() for a, b in zip(out_base, out_new, strict=True))
        times = {"base": [], "new": []}
        for _ in range(args.rounds):
            times["base"].append(time_calls(base, call_args, grads, args.calls))
            times["new"].append(time_calls(new, call_args, grads, args.calls))
        best = {k: min(v) for k, v in times.items()}
        results.append({"batch": batch, "us_best": best, "us_all": times, "max_diff": diff})
        lines.append(
            f"| {batch} | {best['base']:,.0f} | {best['new']:,.0f} | "
            f"{best['new'] / best['base']:.3f} | {diff:.1e} |"
        )
        print(lines[-1], flush=True)
    command = command_line("bench_ntm_kernel.py", argv)
    text = f"# Fused NTM step kernel, forward + backward\n\n{header(command, machine())}\n"
    write_results(
        text + "\n".join(lines) + "\n",
        {**provenance(command), "kernel_isa": kernel_isa(), "results": results},
        args.out,
        args.json,
    )


if __name__ == "__main__":
    main()

"""Does a core reproduce the NTM paper? Copy, RepeatCopy, AssociativeRecall, supervised.

    nice -n 10 python scripts/probe_supervised_copy.py --task copy --agent ntm \\
        --sequences 50000 --batch 16 --lr 1e-3 --eval-slots 512 \\
        --out benchmarks/results/supervised-copy/ntm-copy-b16-seed0.md \\
        --json benchmarks/results/supervised-copy/ntm-copy-b16-seed0.json

Graves et al. 2014, sec. 4 (tasks in :mod:`agents.supervised`): a core of any registered
memory agent (``--agent``, its registry defaults plus ``--core-kwargs``) with a linear
read-out, fresh batches of ``--batch`` sequences with sizes drawn from the paper's training
range, binary cross-entropy on the output phase, Adam (or RMSProp as the paper) at ``--lr``,
gradients clipped to [-10, 10]. Every ``--eval-every`` sequences it scores bits wrong per
sequence on fixed sequences at the training sizes; at the end at every size in
``--eval-sizes`` (generalisation beyond the training range). ``--init uniform`` zeroes the
NTM's initial weighting logits: the symmetric start the NTM had before issue 11's fix.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.benchutil import (  # noqa: E402
    check_output_paths,
    command_line,
    header,
    machine,
    provenance,
    write_results,
)
from agents.script_args import check_float, check_ints, usage_errors  # noqa: E402


def build(args):
    import torch

    from agents import supervised as S

    torch.manual_seed(args.seed)
    task = S.TASKS[args.task]
    core = S.make_core(args.agent, task.input_size, args.core_kwargs)
    if args.init == "uniform":
        with torch.no_grad():
            core.init_read_logits.zero_()
            core.init_write_logits.zero_()
    model = S.Reader(core, task.output_size)
    opt_cls = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[args.optimizer]
    kwargs = {"momentum": 0.9, "alpha": 0.95} if args.optimizer == "rmsprop" else {}
    return task, model, opt_cls(model.parameters(), lr=args.lr, **kwargs)


def run(args) -> dict:
    import torch

    from agents import supervised as S

    torch.set_num_threads(args.threads)
    task, model, opt = build(args)
    gen = torch.Generator().manual_seed(args.seed)
    lo, hi = task.train_range
    train_sizes = [s for s in task.eval_sizes if lo <= s <= hi]
    curve, seen, solved_at, start = [], 0, None, time.perf_counter()
    recent: list[float] = []  # bits wrong per sequence of the last 10 training batches
    lr_dropped_at = diverged = None
    while seen < args.sequences and time.perf_counter() - start < args.seconds:
        try:
            _, bits_wrong = S.train_step(
                model, opt, task, args.batch, gen, clip_norm=args.clip_norm
            )
        except FloatingPointError as exc:  # stop; report the last finite model
            diverged = {"sequences": seen, "error": str(exc)}
            print(json.dumps({"diverged": diverged}), flush=True)
            break
        seen += args.batch
        recent = [*recent[-9:], bits_wrong]
        if args.solved_lr and lr_dropped_at is None and len(recent) == 10 and max(recent) <= 1:
            for group in opt.param_groups:  # Adam keeps taking lr-sized steps once solved
                group["lr"] = args.solved_lr
            lr_dropped_at = seen
            print(json.dumps({"sequences": seen, "lr": args.solved_lr}), flush=True)
        if seen % args.eval_every < args.batch or seen >= args.sequences:
            bits = S.evaluate(model, task, train_sizes, args.eval_batch, seed=10_000)
            curve.append({"sequences": seen, "seconds": time.perf_counter() - start, **bits})
            print(json.dumps(curve[-1]), flush=True)
            if solved_at is None and max(bits.values()) <= 1.0:
                solved_at = seen
    sizes = args.eval_sizes or task.eval_sizes
    final = S.evaluate(model, task, sizes, args.eval_batch, 20_000)
    resized = None
    if args.eval_slots:  # the trained NTM with a bigger memory (length generalisation)
        big = S.Reader(model.core.with_memory_slots(args.eval_slots), task.output_size)
        big.head.load_state_dict(model.head.state_dict())
        resized = S.evaluate(big, task, sizes, args.eval_batch, 20_000)
    return {
        "task": args.task,
        "agent": args.agent,
        "core_kwargs": args.core_kwargs,
        "init": args.init,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "solved_lr": args.solved_lr,
        "clip_norm": args.clip_norm,
        "lr_dropped_at": lr_dropped_at,
        "diverged": diverged,
        "batch": args.batch,
        "seed": args.seed,
        "sequences": seen,
        "seconds": time.perf_counter() - start,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_sizes": train_sizes,
        "sequences_to_1_bit": solved_at,
        "final_bits_wrong": final,
        "eval_slots": args.eval_slots,
        "final_bits_wrong_eval_slots": resized,
        "curve": curve,
    }


def lr_drop(r: dict) -> str:
    """What ``--solved-lr`` did: nothing asked, asked but never solved, or when."""
    if not r["solved_lr"]:
        return "The learning rate stayed fixed (no --solved-lr)."
    when = r["lr_dropped_at"]
    if when is None:
        return (
            f"The learning rate would have been set to {r['solved_lr']} once solved on "
            "training batches: never solved there, so it stayed fixed."
        )
    return (
        f"Learning rate set to {r['solved_lr']} once solved on training batches: at "
        f"{when:,} sequences."
    )


def report(r: dict, command: str) -> str:
    sizes = list(r["final_bits_wrong"])
    lo_hi = "sizes " + ", ".join(map(str, r["train_sizes"]))
    solved = f"{r['sequences_to_1_bit']:,}" if r["sequences_to_1_bit"] else "not reached"
    clip = "" if r.get("clip_norm") is None else f", gradient norm clipped at {r['clip_norm']}"
    lines = [
        f"# {r['task']} as supervised learning: {r['agent']} ({r['init']} init)\n",
        header(command, machine()),
        f"Core `{r['agent']}` with core kwargs `{json.dumps(r['core_kwargs'])}` "
        f"({r['parameters']:,} parameters with the read-out), {r['optimizer']} lr {r['lr']}"
        f"{clip}, "
        f"batch {r['batch']}, seed {r['seed']}: {r['sequences']:,} sequences in "
        f"{r['seconds']:.0f} s. Sequences until bits wrong per sequence <= 1 at every "
        f"training size ({lo_hi}): **{solved}**. {lr_drop(r)}\n",
        *(
            [
                f"**Diverged** after {d['sequences']:,} sequences ({d['error']}); training stopped "
                "there, the results below are the last finite model's.\n"
            ]
            if (d := r.get("diverged"))
            else []
        ),
        "Bits wrong per sequence at the end, by size (beyond the training range: "
        "generalisation):\n",
        "| " + " | ".join(["size", *map(str, sizes)]) + " |",
        "| --- " * (len(sizes) + 1) + "|",
        "| bits wrong | " + " | ".join(f"{r['final_bits_wrong'][s]:.2f}" for s in sizes) + " |",
        "\nLearning curve (bits wrong per sequence at the training sizes):\n",
        "| sequences | seconds | " + " | ".join(map(str, r["train_sizes"])) + " |",
        "| --- " * (len(r["train_sizes"]) + 2) + "|",
    ]
    if resized := r.get("final_bits_wrong_eval_slots"):
        row = " | ".join(f"{resized[s]:.2f}" for s in sizes)
        lines.insert(
            lines.index("\nLearning curve (bits wrong per sequence at the training sizes):\n"),
            f"| with {r['eval_slots']} slots | {row} |",
        )
    for c in r["curve"]:
        cells = " | ".join(f"{c[s]:.2f}" for s in r["train_sizes"])
        lines.append(f"| {c['sequences']:,} | {c['seconds']:.0f} | {cells} |")
    return "\n".join(lines) + "\n"


def steps_of(task: str, size: int) -> int:
    """Steps of a sequence of ``size`` (the longest, for RepeatCopy's drawn repeat count)."""
    from agents import supervised as S

    if task == "copy":
        return 2 * size + 1
    if task == "repeat-copy":
        return size + 1 + S.REPEATS[1] * size + 1
    return (size + 1) * 4 + 1 + 3  # associative recall, items of 3 vectors


def batch_bytes(task: str, core, size: int, batch: int) -> int:
    """About the bytes a batch of ``batch`` sequences of ``size`` takes through the model:
    inputs, targets, core outputs and logits per step, and the core's state."""
    import torch

    from agents import supervised as S

    def numel(x) -> int:
        if isinstance(x, torch.Tensor):
            return x.numel()
        values = x.values() if isinstance(x, dict) else x if isinstance(x, (tuple, list)) else ()
        return sum(map(numel, values))

    t = S.TASKS[task]
    per_step = t.input_size + 2 * t.output_size + core.output_size
    return 4 * batch * (steps_of(task, size) * per_step + numel(core.initial_state(1)))


def largest_size(task: str, core, batch: int, budget: int) -> int:
    """The largest size whose batch fits ``budget`` bytes (0: none does)."""
    from memenvs.core import MAX_KNOB

    lo, hi = 0, MAX_KNOB
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if batch_bytes(task, core, mid, batch) <= budget else (lo, mid - 1)
    return lo


def check_args(args) -> None:
    """Every argument, before any training: ``ValueError`` naming the flag and the range.
    Builds the core (its registry and ``--core-kwargs`` checks) and bounds the batches and
    evaluation sizes by ``memenvs.core.MEMORY_BUDGET``."""
    from agents import supervised as S
    from agents.checks import MAX_SEED
    from agents.registry import get_agent
    from memenvs.core import MEMORY_BUDGET, format_bytes

    for name in ("sequences", "batch", "eval_every", "eval_batch"):
        check_ints("--" + name.replace("_", "-"), getattr(args, name), 1)
    check_ints("--threads", args.threads, 1, os.cpu_count() or 1)
    check_ints("--seed", args.seed, 0, MAX_SEED)
    check_ints("--eval-slots", args.eval_slots, 0)
    check_float("--lr", args.lr, 0, above=True)
    check_float("--solved-lr", args.solved_lr, 0)
    if args.clip_norm is not None:
        check_float("--clip-norm", args.clip_norm, 0, above=True)
    check_float("--seconds", args.seconds, 0, above=True, inf="no time limit")
    task = S.TASKS[args.task]
    smallest = task.train_range[0]  # e.g. associative recall needs 2 items
    bad_sizes = [s for s in args.eval_sizes or () if s < smallest]
    if bad_sizes:  # checked before training, not when the evaluation first meets them
        raise ValueError(f"--eval-sizes must be >= {smallest} for {args.task}, got {bad_sizes}")
    try:
        spec = get_agent(args.agent)
    except ValueError as err:
        raise ValueError(f"--agent: {err}") from None
    if not spec.is_memory_agent:
        raise ValueError(f"--agent must be a memory agent (one with a core), got {args.agent!r}")
    try:
        core = S.make_core(args.agent, task.input_size, args.core_kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--core-kwargs: {err}") from None
    if args.init == "uniform" and not hasattr(core, "init_write_logits"):
        raise ValueError(f"--init uniform needs an NTM core, got agent {args.agent!r}")
    cores = [core]
    if args.eval_slots:
        if not hasattr(core, "with_memory_slots"):
            raise ValueError(f"--eval-slots needs an NTM core, got agent {args.agent!r}")
        try:
            cores.append(core.with_memory_slots(args.eval_slots))
        except ValueError as err:
            raise ValueError(f"--eval-slots: {err}") from None
    budget = f"{format_bytes(MEMORY_BUDGET)} (memenvs.core.MEMORY_BUDGET)"
    need = batch_bytes(args.task, core, task.train_range[1], args.batch)
    if need > MEMORY_BUDGET:
        raise ValueError(
            f"--batch {args.batch} at size {task.train_range[1]} would need about "
            f"{format_bytes(need)}, over {budget}"
        )
    sizes = args.eval_sizes or task.eval_sizes  # and the training sizes, every --eval-every
    for flag, c in zip(("--eval-sizes", "--eval-slots")[: len(cores)], cores, strict=True):
        most = largest_size(args.task, c, args.eval_batch, MEMORY_BUDGET)
        if max(sizes) <= most:
            continue
        if most < task.train_range[1]:  # not even the training sizes: too many sequences
            flag = "--eval-batch" if flag == "--eval-sizes" else flag
        need = batch_bytes(args.task, c, max(sizes), args.eval_batch)
        slots = f" with {c.N} memory slots" if hasattr(c, "N") else ""
        fits = f"sizes in [{smallest}, {most}] fit" if most >= smallest else "no size fits"
        raise ValueError(
            f"{flag}: {args.eval_batch} evaluation sequences (--eval-batch) of size "
            f"{max(sizes)}{slots} would need about {format_bytes(need)}, over {budget}: "
            f"{fits} for {args.task}"
        )


def main(argv=None) -> None:
    from agents.cli.common import json_dict
    from agents.supervised import TASKS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="copy", choices=list(TASKS))
    parser.add_argument("--agent", default="ntm", help="a registered memory agent")
    parser.add_argument(
        "--core-kwargs", type=json_dict, default={}, help="JSON, over the registry defaults"
    )
    parser.add_argument("--init", default="focused", choices=["focused", "uniform"])
    parser.add_argument("--sequences", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=float("inf"), help="time limit")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "rmsprop"])
    parser.add_argument(
        "--clip-norm",
        type=float,
        default=None,
        help="also rescale gradients to this global norm (after the [-10, 10] value clip)",
    )
    parser.add_argument(
        "--solved-lr",
        type=float,
        default=0.0,
        help="set the learning rate to this once 10 training batches in a row have <= 1 bit "
        "wrong per sequence (0: never)",
    )
    parser.add_argument("--eval-every", type=int, default=2_000, help="sequences")
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--eval-sizes", nargs="*", type=int, default=None)
    parser.add_argument(
        "--eval-slots",
        type=int,
        default=0,
        help="also evaluate the trained NTM with this many memory slots (0: no)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="", help="write the Markdown report here")
    parser.add_argument("--json", default="", help="write the record here")
    args = parser.parse_args(argv)
    with usage_errors(parser):
        check_args(args)
        check_output_paths(out=args.out, json=args.json)
    command = command_line("probe_supervised_copy.py", argv)
    record = run(args)
    data = {**provenance(command), **record}
    write_results(report(record, command), data, args.out, args.json)


if __name__ == "__main__":
    main()

"""Training throughput: env-steps/s of each agent on the same task and settings, in one run.

    python scripts/bench_train.py --out benchmarks/results/train/README.md

Every agent trains on ``memenvs/DelayedRecall-v0`` with ``delay=48`` (episodes of 50 steps;
``--delay`` for long episodes) with the same ``n_envs``, ``n_steps``, ``batch_size``,
``n_epochs`` and a 64-unit network (MLP hidden layers / LSTM / GRU / NTM controller /
episodic query embedding, whose ``max_memory`` holds a whole episode), each measurement in
a fresh process.
SB3's memoryless ``PPO("MlpPolicy")`` is the reference: ratios are against it, so the
machine's speed cancels out. A second table splits each agent's time per rollout into
collecting it and updating on it. An agent may carry its own core kwargs, ``AGENT:JSON``
(e.g. ``ntm:'{"fused": false}'``), to compare variants of one agent in one run. ``--bptt``
instead measures peak memory versus BPTT length.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.benchutil import (  # noqa: E402
    check_output_paths,
    command_line,
    header,
    kernel_isa,
    machine,
    peak_rss_mb,
    provenance,
    run_worker,
    write_results,
)
from agents.cli.common import json_dict  # noqa: E402

ENV_ID, ENV_KWARGS = "memenvs/DelayedRecall-v0", {"delay": 48}
HIDDEN = 64
NTM_MEMORY = {"memory_slots": 128, "memory_width": 20}


def agent_setup(name: str, delay: int = ENV_KWARGS["delay"]) -> dict:
    """Settings for any agent in :data:`agents.registry.AGENTS`: a ``HIDDEN``-unit network
    (the core's ``hidden_size``, ``controller_size`` or ``embed_size``, whichever it takes;
    a ``max_memory`` of at least one episode of ``delay + 2`` steps)."""
    import inspect

    from agents.registry import RECURRENT_PPO, get_agent

    spec = get_agent(name)
    if spec.algorithm == RECURRENT_PPO:
        return {"policy_kwargs": {"lstm_hidden_size": HIDDEN, "net_arch": [HIDDEN]}}
    if not spec.is_memory_agent:
        return {}
    params = inspect.signature(spec.core_class).parameters
    if "controller_size" in params:
        return {"core_kwargs": {**NTM_MEMORY, "controller_size": HIDDEN}}
    if "embed_size" in params and "max_memory" in params:
        memory = max(params["max_memory"].default, delay + 2)
        return {"core_kwargs": {"embed_size": HIDDEN, "max_memory": memory}}
    return {"core_kwargs": {"hidden_size": HIDDEN}} if "hidden_size" in params else {}


def registered_agents() -> list[str]:
    from agents.registry import AGENTS

    return list(AGENTS)


def time_phases(model) -> dict[str, float]:
    """Wrap ``model``'s ``collect_rollouts`` and ``train`` (SB3's on-policy loop, which
    MemoryPPO and RecurrentPPO keep) so each adds its wall time to the returned dict's
    ``collect`` and ``update`` seconds."""
    totals = {"collect": 0.0, "update": 0.0}

    def timed(phase: str, method):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                totals[phase] += time.perf_counter() - start

        return run

    model.collect_rollouts = timed("collect", model.collect_rollouts)
    model.train = timed("update", model.train)
    return totals


def worker(cfg: dict) -> dict:
    """Train one agent for ``steps`` env steps after a warm-up rollout; report fps and memory."""
    import torch

    torch.set_num_threads(cfg["threads"])
    import memenvs  # noqa: F401
    from agents.training import make_agent
    from agents.vec_env import make_vec_env

    delay = cfg.get("delay", ENV_KWARGS["delay"])
    env = make_vec_env(ENV_ID, n_envs=cfg["n_envs"], seed=0, env_kwargs={"delay": delay})
    setup = agent_setup(cfg["agent"], delay)
    from agents.registry import get_agent

    if cfg.get("core_kwargs") and get_agent(cfg["agent"]).is_memory_agent:
        setup["core_kwargs"] = {**setup.get("core_kwargs", {}), **cfg["core_kwargs"]}
    kwargs = {
        "n_steps": cfg["n_steps"],
        "batch_size": cfg["batch_size"],
        "n_epochs": cfg["n_epochs"],
    }
    if cfg["agent"] == "ppo":
        kwargs["policy_kwargs"] = {"net_arch": [HIDDEN, HIDDEN]}
    if "policy_kwargs" in setup:
        kwargs["policy_kwargs"] = setup["policy_kwargs"]
    if cfg.get("bptt_checkpoint"):
        kwargs["policy_kwargs"] = {"bptt_checkpoint": cfg["bptt_checkpoint"]}
    model = make_agent(
        cfg["agent"],
        env,
        seed=0,
        device=cfg["device"],
        core_kwargs=setup.get("core_kwargs"),
        **kwargs,
    )
    rss_before = peak_rss_mb()
    rollout = cfg["n_steps"] * cfg["n_envs"]
    model.learn(rollout)  # warm-up: one rollout and one update
    phases = time_phases(model)
    before = model.num_timesteps
    start = time.perf_counter()
    model.learn(cfg["steps"], reset_num_timesteps=False)  # whole rollouts, >= steps
    elapsed = time.perf_counter() - start
    rollouts = (model.num_timesteps - before) // rollout
    return {
        **cfg,
        "trained_steps": model.num_timesteps - before,
        "fps": (model.num_timesteps - before) / elapsed,
        "rollouts": rollouts,
        "collect_s": phases["collect"] / rollouts,
        "update_s": phases["update"] / rollouts,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "ntm_kernel": kernel_isa(),
    }


def label_of(result: dict) -> str:
    """The agent variant a result belongs to (results written before variants: the agent)."""
    return result.get("label", result["agent"])


def combine_repeats(results: list[dict]) -> list[dict]:
    """One result per (variant, envs, threads) from ``--repeats`` runs of each: the median fps,
    ``ratio`` the median over repeats of fps / MLP PPO's fps in the same repeat (measured
    minutes apart, so a shared machine's drift between agents mostly cancels), and
    ``ratio_range`` the lowest and highest of those ratios. Results without ``repeat`` pass
    through unchanged."""
    if not any("repeat" in r for r in results):
        return results
    ppo = {
        (r["repeat"], r["n_envs"], r["threads"]): r["fps"]
        for r in results
        if label_of(r) == "ppo" and "fps" in r
    }
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((label_of(r), r["n_envs"], r["threads"]), []).append(r)
    combined = []
    for runs in groups.values():
        ok = [r for r in runs if "fps" in r]
        if not ok:
            combined.append(runs[0])
            continue
        row = {**ok[0], "fps": statistics.median(r["fps"] for r in ok)}
        row["fps_runs"] = [r["fps"] for r in ok]
        row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
        for phase in ("collect_s", "update_s"):
            if all(phase in r for r in ok):
                row[phase] = statistics.median(r[phase] for r in ok)
        ratios = [
            r["fps"] / ppo[key]
            for r in ok
            if (key := (r["repeat"], r["n_envs"], r["threads"])) in ppo
        ]
        if ratios:
            row["ratio"] = statistics.median(ratios)
            row["ratio_range"] = [min(ratios), max(ratios)]
        combined.append(row)
    return combined


def ratio_cell(result: dict, ref: dict) -> str:
    """``0.27x``, or with repeats the median ratio and its range: ``0.27x (0.25-0.29)``."""
    key = (result["n_envs"], result["threads"])
    if "ratio" in result:
        low, high = result["ratio_range"]
        spread = f" ({low:.2f}-{high:.2f})" if len(result["fps_runs"]) > 1 else ""
        return f"{result['ratio']:.2f}x{spread}"
    return f"{result['fps'] / ref[key]:.2f}x" if key in ref else "-"


def result_at(results: list[dict], label: str, setting: tuple[int, int]) -> dict | None:
    """The result of agent variant ``label`` at ``setting`` = (envs, threads), if any."""
    return next(
        (r for r in results if label_of(r) == label and (r["n_envs"], r["threads"]) == setting),
        None,
    )


def fps_table(results: list[dict], threads: list[int], n_envs: list[int]) -> str:
    """One row per agent (variant); per (envs, threads) setting its fps and ratio to MLP PPO's
    (with repeats: see :func:`combine_repeats`)."""
    results = combine_repeats(results)
    settings = [(n, t) for n in n_envs for t in threads]
    ref = {
        (r["n_envs"], r["threads"]): r["fps"]
        for r in results
        if label_of(r) == "ppo" and "fps" in r
    }
    heads = [f"fps ({n} envs, {t} thr) | vs MLP PPO" for n, t in settings]
    lines = ["| agent | " + " | ".join(heads) + " | peak RSS MiB |"]
    lines.append("| --- " * (1 + 2 * len(settings) + 1) + "|")
    for label in dict.fromkeys(map(label_of, results)):
        cells, rss = [], []
        for key in settings:
            r = result_at(results, label, key)
            if r is None or "fps" not in r:
                cells += ["error" if r else "-", "-"]
                continue
            cells += [f"{r['fps']:,.0f}", ratio_cell(r, ref)]
            rss.append(r["peak_rss_mb"])
        peak = f"{max(rss):,.0f}" if rss else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {peak} |")
    return "\n".join(lines)


def phase_table(results: list[dict], threads: list[int], n_envs: list[int]) -> str:
    """Where each agent's time goes: per (envs, threads) setting, the seconds one rollout of
    ``n_envs * n_steps`` env steps spends collecting (env steps and the policy's forward) and
    updating (every epoch's minibatches), medians over repeats; "-" where not measured."""
    results = combine_repeats(results)
    settings = [(n, t) for n in n_envs for t in threads]
    heads = [f"collect / update s ({n} envs, {t} thr)" for n, t in settings]
    lines = ["| agent | " + " | ".join(heads) + " |", "| --- " * (1 + len(settings)) + "|"]
    for label in dict.fromkeys(map(label_of, results)):
        cells = []
        for key in settings:
            r = result_at(results, label, key) or {}
            timed = "collect_s" in r and "update_s" in r
            cells.append(f"{r['collect_s']:.3f} / {r['update_s']:.3f}" if timed else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--agents",
        nargs="+",
        default=None,
        help="registered agents (default: all), each optionally AGENT:JSON with its own core "
        "kwargs over --core-kwargs",
    )
    parser.add_argument(
        "--threads", nargs="+", type=int, default=[1, 2], help="torch thread counts"
    )
    parser.add_argument("--n-envs", nargs="+", type=int, default=[8], help="one run per value")
    parser.add_argument("--n-steps", type=int, default=128)
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument("--batch-size", type=int, default=256, help="env steps per minibatch")
    batch.add_argument(
        "--minibatches",
        type=int,
        default=None,
        help="instead of --batch-size: this many minibatches per epoch at every --n-envs "
        "(batch_size = n_envs * n_steps / minibatches), so larger batches amortise per-op cost",
    )
    parser.add_argument("--n-epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=4096, help="timed env steps per agent")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="measure every setting this many times, round robin over agents (each a fresh "
        "process); the table gives the median fps and the median (and range) of the ratios "
        "to MLP PPO in the same round",
    )
    parser.add_argument(
        "--delay", type=int, default=ENV_KWARGS["delay"], help="DelayedRecall delay (episode - 2)"
    )
    parser.add_argument(
        "--bptt",
        nargs="+",
        type=int,
        default=None,
        help="measure peak memory at these BPTT lengths (n_steps, one or more) instead of fps",
    )
    parser.add_argument(
        "--core-kwargs",
        type=json_dict,
        default=None,
        help='JSON added to the memory agents\' core kwargs, e.g. \'{"attention": "chunked"}\'',
    )
    parser.add_argument("--out", default="", help="write the Markdown table here")
    parser.add_argument("--json", default="", help="write raw results here")
    args = parser.parse_args(argv)
    known = registered_agents()
    args.agents = args.agents or known
    variants = {}  # label -> (agent, core kwargs of this variant)
    for label in args.agents:
        name, _, extra = label.partition(":")
        if name not in known:
            parser.error(f"--agents: {name!r} is not a registered agent (one of {known})")
        try:
            own = json.loads(extra) if extra else {}
        except json.JSONDecodeError as exc:
            parser.error(f"--agents: {label!r}: the core kwargs after ':' are not JSON ({exc})")
        if not isinstance(own, dict):
            parser.error(f"--agents: {label!r}: the core kwargs after ':' must be a JSON object")
        variants[label] = (name, {**(args.core_kwargs or {}), **own} or None)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    from agents.cli.common import check_device_flag

    check_device_flag(parser, args.device)
    command = command_line("bench_train.py", argv)
    if args.delay < 1:
        parser.error("--delay must be >= 1")
    names = ("n_envs", "n_steps", "n_epochs", "steps", "minibatches", "batch_size", "repeats")
    for name in (*names, "threads", "bptt"):
        value = getattr(args, name)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and v < 1:
                parser.error(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    for n_envs in args.n_envs:  # before any worker runs, not after the first settings
        rollout = n_envs * args.n_steps
        if args.minibatches is not None and rollout % args.minibatches:
            parser.error(f"--minibatches must divide n_envs * n_steps = {rollout}")
    try:
        check_output_paths(out=args.out, json=args.json)
    except ValueError as err:
        parser.error(str(err))
    base = {
        "delay": args.delay,
        "n_epochs": args.n_epochs,
        "device": args.device,
    }
    results = []
    if args.bptt is None:
        for repeat, n_envs, threads in itertools.product(
            range(args.repeats), args.n_envs, args.threads
        ):
            rollout = n_envs * args.n_steps
            batch = args.batch_size if args.minibatches is None else rollout // args.minibatches
            for label, (agent, core_kwargs) in variants.items():
                cfg = {
                    **base,
                    "agent": agent,
                    "label": label,
                    "core_kwargs": core_kwargs,
                    "n_envs": n_envs,
                    "batch_size": batch,
                    "threads": threads,
                    "n_steps": args.n_steps,
                    "steps": args.steps,
                    **({"repeat": repeat} if args.repeats > 1 else {}),
                }
                results.append(run_worker(__file__, cfg))
                print(json.dumps(results[-1]), flush=True)
        table = fps_table(results, args.threads, args.n_envs)
        table += (
            "\n\nSeconds per rollout (median over repeats): collecting it (env steps, the "
            "policy's forward) / updating on it (every epoch's minibatches).\n\n"
            + phase_table(results, args.threads, args.n_envs)
        )
        builds = sorted({r["ntm_kernel"] for r in results if r.get("ntm_kernel")})
        if builds:
            table += f"\n\nFused NTM kernel build: {', '.join(builds)}."
        title = "Training throughput (env-steps/s), higher is better"
    else:
        lines = [
            "| agent | BPTT (n_steps) | checkpoint | fps | peak RSS MiB |",
            "| --- | --- | --- | --- | --- |",
        ]
        for label, (agent, core_kwargs) in variants.items():
            for n_steps in args.bptt:
                for chunk in (0, 64):
                    cfg = {
                        **base,
                        "agent": agent,
                        "label": label,
                        "core_kwargs": core_kwargs,
                        "threads": 1,
                        "n_envs": args.n_envs[0],
                        "n_steps": n_steps,
                        "batch_size": n_steps * args.n_envs[0],
                        "n_epochs": 1,
                        "steps": n_steps * args.n_envs[0],
                        "bptt_checkpoint": chunk,
                    }
                    r = run_worker(__file__, cfg)
                    results.append(r)
                    print(json.dumps(r), flush=True)
                    fps = f"{r['fps']:,.0f}" if "fps" in r else "error"
                    rss = f"{r['peak_rss_mb']:,.0f}" if "peak_rss_mb" in r else "-"
                    lines.append(f"| {label} | {n_steps} | {chunk or 'off'} | {fps} | {rss} |")
        table = "\n".join(lines)
        title = "Peak memory versus BPTT length (one full-rollout minibatch, 1 epoch)"
    failed = [r for r in results if "error" in r]
    if failed:  # a worker's error is in its JSON record; say so, and exit 1 (report written)
        last = failed[0]["error"].strip().splitlines() or ["(no output)"]
        table += (
            f'\n\n{len(failed)} of {len(results)} measurements failed ("error" in the table;'
            f" the JSON records hold each worker's error), the first: {last[-1]}"
        )
    text = f"# {title}\n\n{header(command, machine())}\n{table}\n"
    data = {**provenance(command), "results": results}
    write_results(text, data, args.out, args.json)
    if failed:
        print(f"{len(failed)} of {len(results)} measurements failed: {last[-1]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The benchmark's command line: run or resume a suite, then write its report.

python -m agents.benchmark --suite smoke            (a suite shipped with the package)
python -m agents.benchmark --suite my_suite.json --out results --jobs 2
python -m agents.benchmark --suite smoke --engine ray              (a local Ray instance)
python -m agents.benchmark --suite smoke --address 10.0.0.1:6379 --jobs 32   (a Ray cluster)
python -m agents.benchmark --suite smoke --report-only [--repair]
tensorboard --logdir benchmarks/results/runs/smoke

Exit status 2 with a one-line error for a bad suite, a corrupt results file (rerun with
``--repair`` to move bad lines to ``results.jsonl.bad``), results made with other settings
(budget, n_envs, eval_episodes, device, hyperparameters) than the suite's, another runner
on the same output, an ``--out`` that is not a folder or cannot be created, a bad
``--address``, ray missing for ``--engine ray`` (``pip install 'memenvs-agents[sweep]'``)
or matplotlib missing (``pip install 'memenvs-agents[bench]'``, or ``--no-plots``); all
before any training, and before Ray starts. Exit status 1 if runs failed (each is
reported; the report is still written and a rerun retries them), or, with ``--tune``, if
trials failed (the report of the others is still written).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from agents import benchmark
from agents.checks import check_int
from agents.plots import require_matplotlib
from agents.report import write_report
from agents.results import OutputLocked, ResultsError, output_lock, read_results
from agents.suite import MAX_JOBS, known_suites, load_suite
from agents.sweep import check_address, import_ray, require


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=f"{__doc__}\n{benchmark.__doc__}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--suite", required=True, help=f"a shipped suite {known_suites()} or a path")
    p.add_argument("--jobs", type=int, default=None, help="parallel runs (default: the suite's)")
    p.add_argument(
        "--engine",
        choices=benchmark.ENGINES,
        default=None,
        help="process: a pool of this machine's processes (the default); ray: each trial a "
        "Ray task, on a local Ray instance or the cluster at --address (needs the sweep extra)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="a running Ray cluster's head, host:port (or ray://host:port, or auto); "
        "implies --engine ray",
    )
    p.add_argument("--out", default="benchmarks/results", help="results root folder")
    p.add_argument("--report-only", action="store_true", help="rewrite the report only")
    p.add_argument(
        "--repair",
        action="store_true",
        help="move bad lines of results.jsonl (truncated, not a record, duplicates) to "
        "results.jsonl.bad, then go on",
    )
    p.add_argument("--no-plots", action="store_true", help="write the report without plots")
    tune = p.add_argument_group(
        "hyperparameter search (--tune; needs optuna, the sweep extra)",
        "Optuna TPE over learning_rate, ent_coef, rollout length (whole episodes) and core "
        "size for one agent at one rung of one task; trials go to "
        "<out>/tune-<suite>-<agent>-<task>-<knob><rung>/ (trials.jsonl, README.md) and a "
        "rerun resumes.",
    )
    tune.add_argument("--tune", metavar="AGENT", help="search hyperparameters for this agent")
    tune.add_argument("--rung", help="the ladder value to tune at (with --tune)")
    tune.add_argument(
        "--task",
        help="the task, if the suite has several: its name (DelayedRecall), Name:knob, "
        "env-id:knob or index",
    )
    tune.add_argument("--trials", type=int, default=8, help="trials in all (default 8)")
    tune.add_argument("--tune-budget", type=int, help="env steps per run (default: the suite's)")
    tune.add_argument("--tune-seeds", help="comma-separated seeds per trial (default: the suite's)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _folder(path: Path) -> None:
    """``ValueError`` naming ``--out`` if ``path`` or a folder above it is a file."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise ValueError(
                    f"--out: {p} is a file, not a folder: move it or use another --out"
                )
            return


def _create(out_dir: Path) -> None:
    """Create ``out_dir`` (and the folders above it) where the runner can write; else
    ``ValueError`` naming ``--out`` and the reason."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out: cannot create {out_dir} ({err.strerror or err})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f"--out: cannot create files in {out_dir} (permission denied)")


def _tune(
    args: argparse.Namespace, suite: dict, out_root: Path, engine: str, command: str
) -> tuple[str, int]:
    """Run (or resume) ``--tune``; return its report and how many trials failed."""
    from agents.sweep import tune, write_tune_report

    if args.rung is None:
        raise ValueError("--tune needs --rung, the ladder value to tune at")
    if args.report_only:
        raise ValueError("--report-only does not go with --tune (a rerun resumes the search)")
    changes: dict = {}
    if args.tune_budget is not None:
        if args.tune_budget < 1:
            raise ValueError(f"--tune-budget must be >= 1, got {args.tune_budget}")
        changes["budget"] = args.tune_budget
    if args.tune_seeds is not None:
        try:
            changes["seeds"] = [int(s) for s in args.tune_seeds.split(",")]
        except ValueError:
            raise ValueError(
                f"--tune-seeds must be comma-separated integers, got {args.tune_seeds!r}"
            ) from None
    suite = {**suite, **changes}  # tune validates it
    out_dir, trials, failed = tune(
        suite,
        out_root,
        args.tune,
        args.rung,
        args.trials,
        args.jobs or suite.get("jobs", 1),
        task=args.task,
        engine=engine,
        address=args.address,
    )
    return write_tune_report(out_dir, trials, suite, command), failed


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """Parse ``argv``, run (or resume) the suite, print and write the report."""
    cli = parser(prog)
    args = cli.parse_args(argv)
    command = shlex.join([*(cli.prog.split()), *(sys.argv[1:] if argv is None else argv)])
    failed = None
    try:
        if not args.no_plots and args.tune is None:
            require_matplotlib()  # before training, not after it
        if args.jobs is not None:
            check_int("--jobs", args.jobs, 1, MAX_JOBS)
        engine = args.engine or ("ray" if args.address is not None else "process")
        if args.address is not None:
            if engine != "ray":
                raise ValueError("--address needs --engine ray")
            check_address(args.address)
        if engine == "ray" and not args.report_only:
            import_ray()  # before training, not after it
        if args.tune is not None:
            require("optuna", "--tune")
        suite = load_suite(args.suite)
        out_root = Path(args.out)
        out_dir = out_root / suite["name"]  # validated by load_suite
        if args.tune is not None:
            _folder(out_root)
            report, failed_trials = _tune(args, suite, out_root, engine, command)
            print(report)
            if failed_trials:
                cli.exit(
                    1, f"{cli.prog}: error: {failed_trials} trial(s) failed (reported above)\n"
                )
            return
        _folder(out_dir)
        if args.rung is not None or args.task is not None:
            raise ValueError("--rung and --task go with --tune")
        _create(out_dir)  # before the lock, the results and the report need it
        if args.report_only:
            if not (out_dir / "results.jsonl").exists():  # a mistyped --out, or a plan preview
                print(
                    f"{cli.prog}: warning: no {out_dir / 'results.jsonl'}: every run is "
                    "reported as not run",
                    file=sys.stderr,
                )
            if args.repair:
                with output_lock(out_dir):
                    benchmark.report_repair(out_dir / "results.jsonl")
            records = read_results(out_dir / "results.jsonl")
            benchmark.check_resumable(suite, records, out_dir / "results.jsonl")
        else:
            try:
                records = benchmark.run_suite(
                    suite,
                    out_root,
                    args.jobs or suite.get("jobs", 1),
                    progress=not args.no_progress,
                    repair=args.repair,
                    engine=engine,
                    address=args.address,
                )
            except benchmark.RunsFailed as err:
                records, failed = err.records, err
    except (ImportError, ResultsError, OutputLocked, ValueError, ConnectionError) as err:
        cli.exit(2, f"{cli.prog}: error: {err}\n")
    print(write_report(suite, records, out_dir, command, plots=not args.no_plots))
    if failed is not None:
        cli.exit(1, f"{cli.prog}: error: {failed}\n")


if __name__ == "__main__":
    main()

"""Benchmark trials as Ray tasks, on one machine or a cluster (the ``sweep`` extra).

Each (agent, task setting, seed) trial is one Ray core task running
:func:`agents.benchmark.train_one`; the driver (the benchmark runner) keeps at most ``jobs``
of them in flight, collects their records as they finish and is the only writer of
``results.jsonl``. Without ``address`` a private local Ray instance is started on the
loopback interface and shut down at the end; with ``address`` (``host:port`` of a running
head node, ``ray://host:port`` for Ray Client, or ``auto``) the trials go to that cluster.

Why core tasks and not Ray Tune: a trial here is one function call with no intermediate
reporting, checkpointing or early stopping across trials (the runner's early stop lives
inside the trial), and resume is by finished records in ``results.jsonl``, which Tune's
experiment state would duplicate. Tasks give what is needed (resource requests, placement
on any node, retries after a node dies, cancellation) with no second bookkeeping.

Resources: a trial asks for ``threads`` CPUs (default 1) and, on a ``cuda`` device, one GPU,
so it only lands on a node with a free GPU; a suite that needs a GPU on a cluster without
one is refused before anything runs. A trial whose worker or node dies is retried once by
Ray (``MAX_RETRIES``); any other failure is reported and the trial is rerun by the next
invocation, as with the process pool.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Iterator
from typing import Any

INSTALL_HINT = "pip install 'memenvs-agents[sweep]'"
MAX_RETRIES = 1  # retries of a trial whose worker process or node died
LOOPBACK = "127.0.0.1"
_HOST_PORT = re.compile(
    r"^(?:ray://)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$"
)


def check_address(address: str) -> str:
    """``address`` if it names a Ray cluster: ``auto``, ``host:port`` or ``ray://host:port``.

    Raises ``ValueError`` otherwise (a port must be 1-65535).
    """
    if address == "auto":
        return address
    match = _HOST_PORT.match(address)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(
            f"--address {address!r} is not a Ray cluster address: use host:port of the head "
            f"node (as printed by `ray start --head`), ray://host:port, or auto"
        )
    return address


def import_ray() -> Any:
    """The ``ray`` module, or ``ImportError`` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError(f"the Ray engine needs ray: {INSTALL_HINT}") from None
    return ray


def trial_resources(run: dict[str, Any]) -> dict[str, float]:
    """Ray resources of one trial: its torch threads as CPUs, one GPU on a cuda device."""
    gpus = 1 if str(run.get("device", "cpu")).startswith("cuda") else 0
    return {"num_cpus": run.get("threads", 1), "num_gpus": gpus}


def trial_name(run: dict[str, Any]) -> str:
    """Name of a trial's task in Ray's state API and logs."""
    return f"{run['agent']}/{run['env']}/{run['knob']}={run['value']}/seed{run['seed']}"


def _trial(run: dict[str, Any]) -> dict[str, Any]:
    """Body of one Ray task: train, then say on which node (TensorBoard runs stay there)."""
    import ray

    from agents.benchmark import train_one

    record = train_one(run)
    record["node"] = {"id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname()}
    return record


def report_failure(err: BaseException) -> None:
    """One line on stderr for a trial that failed (the next invocation reruns it)."""
    first = str(err).strip().splitlines()[:1]
    print(f"run failed: {type(err).__name__}: {first[0] if first else ''}", file=sys.stderr)


class RaySession:
    """Ray for the duration of a ``with`` block: ``train_all`` runs trials as tasks.

    Without ``address`` starts a local instance (``num_cpus`` = max(cores, jobs), so
    ``jobs`` one-CPU trials fit) with a reaper process that kills its daemons and workers if
    the runner itself is killed (:func:`agents.workers.start_reaper`); with ``address``
    connects to that cluster, whose Ray ends the job's tasks when the driver dies.
    """

    def __init__(self, jobs: int, address: str | None = None) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
        self.jobs = jobs
        self.address = None if address is None else check_address(address)
        self._reaper = None

    def __enter__(self) -> RaySession:
        from agents.workers import start_reaper

        ray = import_ray()
        if self.address is None:
            self._reaper = start_reaper()
            ray.init(
                num_cpus=max(os.cpu_count() or 1, self.jobs),
                include_dashboard=False,
                _node_ip_address=LOOPBACK,
            )
        else:
            ray.init(address=self.address)
        return self

    def __exit__(self, *exc: object) -> None:
        from agents.workers import stop_reaper

        import_ray().shutdown()
        stop_reaper(self._reaper)
        self._reaper = None

    def check_feasible(self, runs: list[dict[str, Any]]) -> None:
        """``ValueError`` if a trial needs a GPU and no node of the cluster has one."""
        ray = import_ray()
        needs_gpu = any(trial_resources(r)["num_gpus"] for r in runs)
        if needs_gpu and ray.cluster_resources().get("GPU", 0) < 1:
            raise ValueError(
                "the suite trains on a cuda device but no node of the Ray cluster has a "
                "GPU: add a GPU node (ray start ... --num-gpus N) or train on cpu"
            )

    def train_all(self, runs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yield the records of ``runs`` as they finish, ``jobs`` trials at a time.

        A failed trial is reported and skipped; if the caller stops (Ctrl-C, an error), the
        trials still running are cancelled (their workers killed).
        """
        ray = import_ray()
        self.check_feasible(runs)
        remote = ray.remote(_trial)
        queue, pending = list(runs), {}
        try:
            while queue or pending:
                while queue and len(pending) < self.jobs:
                    run = queue.pop(0)
                    options = {**trial_resources(run), "max_retries": MAX_RETRIES}
                    pending[remote.options(name=trial_name(run), **options).remote(run)] = run
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                pending.pop(ref)
                try:
                    record = ray.get(ref)
                except Exception as err:  # a Ray task error wraps the trial's exception
                    report_failure(err)
                    continue
                yield record
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

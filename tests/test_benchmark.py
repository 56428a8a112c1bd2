"""The benchmark pipeline: the smoke suite produces well-formed files; frontier logic."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from agents.benchmark import STOP_WINDOW, frontier, load_suite, plan, progress_callback

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_suite_writes_results_report_plots_and_tensorboard(tmp_path):
    suite = ROOT / "benchmarks" / "suites" / "smoke.json"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "benchmark.py"),
        "--suite",
        str(suite),
        "--out",
        str(tmp_path / "results"),
        "--no-progress",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "results" / "smoke"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    agents = load_suite(str(suite))["agents"]
    assert {r["agent"] for r in records} == set(agents)
    for r in records:
        assert 0.0 <= r["success_rate"] <= 1.0 and r["wall_time_s"] > 0 and r["env_steps_per_s"] > 0
        assert r["machine"]["commit"] and r["budget"] == 1024 and r["steps_trained"] >= 1024
        for key in (
            "agent",
            "env",
            "env_kwargs",
            "seed",
            "steps_to_95",
            "hyperparameters",
            "curve",
        ):
            assert key in r
    readme = (out / "README.md").read_text()
    assert "Command: `python scripts/benchmark.py" in readme and "frontier" in readme
    for agent in agents:
        assert f"| {agent} |" in readme
    assert list(out.glob("success_vs_*.png")) and list(out.glob("curves_*.png"))
    runs = tmp_path / "results" / "runs" / "smoke"  # under --out, not beside it
    assert list(runs.glob("DelayedRecall-delay2/*/seed0/events.out.tfevents.*"))
    assert not (tmp_path / "runs").exists()
    for r in records:  # exactly runs/<suite>/<task>/<agent>/seed<k>, one events file each
        assert r["tensorboard"] == f"runs/smoke/DelayedRecall-delay2/{r['agent']}/seed{r['seed']}"
        events = (tmp_path / "results" / r["tensorboard"]).glob("events.out.tfevents.*")
        assert len(list(events)) == 1
    # resumable: a rerun finds every run done and trains nothing
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == len(records)


def test_frontier_is_longest_value_with_median_success():
    def rec(value, seed, rate):
        return {"agent": "a", "env": "e", "value": value, "seed": seed, "success_rate": rate}

    records = [
        rec(4, 0, 1.0),
        rec(4, 1, 0.96),
        rec(4, 2, 0.2),  # median 0.96: ok
        rec(16, 0, 1.0),
        rec(16, 1, 0.5),
        rec(16, 2, 0.4),  # median 0.5: fails
        rec(64, 0, 0.97),
        rec(64, 1, 0.99),
        rec(64, 2, 0.1),
    ]  # median 0.97: ok
    assert frontier(records, "a", "e") == 64
    assert frontier(records[:3], "a", "e") == 4
    assert frontier([rec(4, 0, 0.5)], "a", "e") is None


def test_plan_covers_agents_tasks_seeds():
    suite = load_suite(str(ROOT / "benchmarks" / "suites" / "frontier-cpu.json"))
    runs = plan(suite, 0)
    assert len(runs) == len(suite["agents"]) * len(suite["tasks"]) * len(suite["seeds"])
    assert all(r["tb_dir"].startswith("runs/frontier-cpu/") for r in runs)


def test_an_agent_that_failed_any_shorter_rung_is_skipped():
    from agents.benchmark import _failed_below

    task = {"env": "e", "knob": "delay", "ladder": [4, 16, 64], "fixed": {"n": 1}}
    at_4 = {
        "agent": "a",
        "env": "e",
        "knob": "delay",
        "value": 4,
        "env_kwargs": {"n": 1, "delay": 4},
    }
    run = {"agent": "a", "env": "e", "knob": "delay", "value": 64}
    assert _failed_below([{**at_4, "success_rate": 0.2}], run, task)  # 16 skipped, 4 failed
    assert not _failed_below([{**at_4, "success_rate": 1.0}], run, task)
    # another task on the same env and knob (other fixed knobs) failed at 4: not this one's
    other = {**at_4, "env_kwargs": {"n": 2, "delay": 4}, "success_rate": 0.2}
    assert not _failed_below([{**at_4, "success_rate": 1.0}, other], run, task)


def test_run_stops_at_the_step_the_success_window_fills_not_one_update_later():
    """SB3 fills ep_success_buffer after on_step; the stop must not wait for it (an extra
    PPO update in between can undo a solved memory policy)."""
    curve: list = []
    cb = progress_callback(curve)
    cb.model = SimpleNamespace(ep_success_buffer=deque(maxlen=100), num_timesteps=0)

    def step(dones, successes):
        infos = [{"is_success": s} for s in successes]
        cb.update_locals({"infos": infos, "dones": np.asarray(dones)})
        return cb.on_step()

    assert step([True, True], [False, False])
    for _ in range(STOP_WINDOW // 2 - 1):
        assert step([True, True], [True, True])  # window full at 98%: go on
    assert step([False, False], [True, True])  # no episode ended: successes do not count
    assert not step([True, False], [True, False])  # one failure left the window: 99%, stop
    assert cb.model.ep_success_buffer == deque(maxlen=100)  # decided before SB3's buffer


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "suites").glob("*.json")), ids=str)
def test_every_committed_suite_names_known_agents_and_valid_task_settings(path):
    """A typo in a suite would otherwise surface hours into a run."""
    import gymnasium as gym

    import memenvs  # noqa: F401
    from agents.training import AGENTS

    suite = load_suite(str(path))
    overrides = suite.get("agent_overrides", {})
    assert set(overrides) <= set(suite["agents"])
    for name in suite["agents"]:  # an agent, or a named variant of one
        assert overrides.get(name, {}).get("agent", name) in (*AGENTS, "external-memory-ppo")
    assert plan(suite, 0)
    for task in suite["tasks"]:
        for value in task["ladder"]:
            for extra in task.get("eval", [{}]):
                kwargs = {**task.get("fixed", {}), task["knob"]: value, **extra}
                gym.make(task["env"], **kwargs).reset(seed=0)


def test_module_entry_point_runs_and_names_known_suites_on_a_typo():
    cmd = [sys.executable, "-m", "agents.benchmark"]
    assert subprocess.run([*cmd, "--help"], cwd=ROOT, capture_output=True).returncode == 0
    proc = subprocess.run(
        [*cmd, "--suite", "frontier-cpux"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "known suites" in proc.stderr and "frontier-cpu" in proc.stderr


# ------------------------------------------------------------- robustness of the runner
def _record(seed: int = 0, **extra) -> dict:
    return {
        "agent": "ppo",
        "env": "memenvs/DelayedRecall-v0",
        "knob": "delay",
        "value": 2,
        "env_kwargs": {"num_symbols": 4, "delay": 2},
        "seed": seed,
        "success_rate": 0.5,
        "mean_return": 0.5,
        "env_steps_per_s": 100.0,
        "curve": [],
        **extra,
    }


TINY_SUITE = {
    "agents": ["ppo"],
    "seeds": [0, 1],
    "budget": 256,
    "eval_episodes": 4,
    "n_envs": 2,
    "jobs": 2,
    "hyperparameters": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
    "tasks": [
        {"env": "memenvs/DelayedRecall-v0", "knob": "delay", "ladder": [2], "fixed": {}},
    ],
}


def _write_suite(folder: Path, **changes) -> Path:
    path = folder / "tiny.json"
    path.write_text(json.dumps({**TINY_SUITE, **changes}))
    return path


def _bench(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "agents.benchmark", "--no-progress", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


GOOD = json.dumps(_record(0))
BAD_LINES = {
    "truncated": (GOOD[:40], "not valid JSON"),
    "empty object": ("{}", "missing keys"),
    "missing a key": (json.dumps({k: v for k, v in _record(1).items() if k != "seed"}), "seed"),
    "not an object": ("[1, 2]", "not a record"),
    "wrong type": (json.dumps(_record(1, success_rate="high")), "success_rate"),
    "duplicate": (GOOD, "second record of the run on line 1"),
    # optional fields, present but malformed (they used to fail later, with a traceback)
    "evals null": (json.dumps(_record(1, evals=None)), "evals=None is not a non-empty list"),
    "eval without a rate": (
        json.dumps(_record(1, evals=[{"env_kwargs": {}, "mean_return": 0.5}])),
        "evals[0]=",
    ),
    "curriculum step null": (
        json.dumps(_record(1, curriculum=[[2, None]])),
        "curriculum[0]=[2, None] is not [rung, env step reached >= 0]",
    ),
    "curve point of one number": (
        json.dumps(_record(1, curve=[[256, 0.5], [512]])),
        "curve[1]=[512] is not [env step, number or null]",
    ),
    "speed not finite": (json.dumps(_record(1, env_steps_per_s=float("nan"))), "not finite"),
    "hyperparameters null": (json.dumps(_record(1, hyperparameters=None)), "hyperparameters"),
    "steps_to_95 a string": (json.dumps(_record(1, steps_to_95="never")), "steps_to_95"),
    "budget a float": (json.dumps(_record(1, budget=256.5)), "budget=256.5 is not an integer"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_a_bad_results_line_names_file_and_line_and_repair_moves_it_aside(tmp_path, case):
    from agents.results import ResultsError, read_results, repair_results

    bad, problem = BAD_LINES[case]
    path = tmp_path / "results.jsonl"
    path.write_text(f"{GOOD}\n{bad}\n{json.dumps(_record(2))}\n")
    with pytest.raises(ResultsError) as err:
        read_results(path)
    message = str(err.value)
    assert str(path) in message and "line 2" in message and problem in message
    assert "--repair" in message
    assert repair_results(path) == 1
    assert [r["seed"] for r in read_results(path)] == [0, 2]
    moved = [json.loads(line) for line in (tmp_path / "results.jsonl.bad").read_text().splitlines()]
    assert [(m["line"], m["text"]) for m in moved] == [(2, bad)]


def test_records_the_runner_wrote_pass_the_check_old_and_new():
    """Every committed results file (runners of all versions: some records lack the newer
    fields) and the runs of committed tune trials; also nulls the runner writes."""
    from agents.results import check_record, read_results

    files = sorted((ROOT / "benchmarks" / "results").glob("**/results.jsonl"))
    assert len(files) >= 5 and all(read_results(path) for path in files)
    for path in (ROOT / "benchmarks" / "results").glob("**/trials.jsonl"):
        for line in path.read_text().splitlines():
            for run in json.loads(line)["runs"]:
                check_record(json.dumps(run))
    evals = [{"env_kwargs": {}, "success_rate": 1.0, "mean_return": 1.0, "episodes": 4}]
    written = _record(steps_to_95=None, curriculum=None, curve=[[256, None]], evals=evals)
    assert check_record(json.dumps(written)) == written
    taught = _record(curriculum=[[2, 0], [4, 512]], curriculum_success=0.95)
    assert check_record(json.dumps(taught)) == taught


def test_results_path_that_is_a_directory_is_a_clear_error(tmp_path):
    from agents.results import ResultsError, read_results

    (tmp_path / "results.jsonl").mkdir()
    with pytest.raises(ResultsError, match="is a directory"):
        read_results(tmp_path / "results.jsonl")


def test_append_after_a_truncated_last_line_keeps_records_apart(tmp_path):
    from agents.results import append_record, read_results, repair_results

    path = tmp_path / "results.jsonl"
    path.write_text(f"{GOOD}\n{GOOD[:30]}")  # the writer was killed mid-line
    append_record(path, _record(3))
    assert repair_results(path) == 1
    assert [r["seed"] for r in read_results(path)] == [0, 3]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (None, "record missing keys"),  # line 2 is {}
        ({"evals": None}, "evals=None is not"),  # a run of the suite: resume used to crash
    ],
    ids=["empty object", "evals null"],
)
def test_cli_on_a_corrupt_results_file_exits_with_the_line_then_repairs(tmp_path, changes, problem):
    suite = _write_suite(tmp_path)
    line = "{}" if changes is None else json.dumps(_plan_record(load_suite(str(suite)), **changes))
    out = tmp_path / "out"
    (out / "tiny").mkdir(parents=True)
    (out / "tiny" / "results.jsonl").write_text(f"{GOOD}\n{line}\n")
    proc = _bench("--suite", str(suite), "--out", str(out), "--report-only", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"results.jsonl, line 2: {problem}" in proc.stderr
    proc = _bench(
        "--suite", str(suite), "--out", str(out), "--report-only", "--repair", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "moved 1 bad line" in proc.stderr
    assert (out / "tiny" / "results.jsonl.bad").is_file()


def test_a_second_runner_on_the_same_output_refuses(tmp_path):
    from agents.results import OutputLocked, output_lock

    suite = _write_suite(tmp_path)
    out = tmp_path / "out"
    with output_lock(out / "tiny"):
        with pytest.raises(OutputLocked, match="another benchmark runner"):
            output_lock(out / "tiny").__enter__()
        proc = _bench("--suite", str(suite), "--out", str(out), cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"pid {__import__('os').getpid()}" in proc.stderr
        assert not (out / "tiny" / "results.jsonl").exists()
    with output_lock(out / "tiny"):  # released on exit
        pass


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (reparented to a PID 1 that may not reap it)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the workers")
def test_kill_9_of_the_runner_leaves_no_worker_and_frees_the_lock(tmp_path):
    import os
    import signal
    import time

    from agents.results import output_lock

    suite = _write_suite(tmp_path, budget=10**8)  # trains until killed
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "agents.benchmark", "--no-progress", "--suite", str(suite)]
    runner = subprocess.Popen([*cmd, "--out", str(out)], cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(runner.pid)) < 2:  # both trials started
            assert runner.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        assert all(_alive(w) for w in workers)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [w for w in workers if _alive(w)]
    for w in survivors:
        os.kill(w, signal.SIGKILL)
    assert not survivors
    with output_lock(out / "tiny"):
        pass


# --------------------------------------------------------------- names from suite files
UNSAFE = {
    "name": {"name": "../../x"},
    "agents[]": {"agents": ["../../../../victim"]},
    "tasks[0].env": {"tasks": [{"env": "memenvs/..", "knob": "delay", "ladder": [2]}]},
    "tasks[0].knob": {"tasks": [{"env": "memenvs/DelayedRecall-v0", "knob": "/x", "ladder": [2]}]},
    "ladder value": {
        "tasks": [{"env": "memenvs/DelayedRecall-v0", "knob": "delay", "ladder": ["2/../../x"]}]
    },
    "agent_overrides key": {"agent_overrides": {"a/b": {}}},
}


@pytest.mark.parametrize("field", sorted(UNSAFE))
def test_unsafe_names_in_a_suite_are_rejected_naming_the_field(tmp_path, field):
    with pytest.raises(ValueError, match=re.escape(field) + "=.*cannot be used as a folder name"):
        load_suite(str(_write_suite(tmp_path, **UNSAFE[field])))


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


VICTIM = "../../../../victim"


@pytest.mark.parametrize(
    "changes",
    [{"name": "../../x"}, {"agents": [VICTIM], "agent_overrides": {VICTIM: {"agent": "ppo"}}}],
    ids=["suite name", "variant name"],
)
def test_a_traversing_suite_writes_and_deletes_nothing_outside_out(tmp_path, changes):
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    victim = tmp_path / "a" / "b" / "victim" / "seed0"  # where the old runner's rmtree hit
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("precious")
    suite = _write_suite(work, **changes)
    before = _tree(tmp_path)
    for _ in range(2):  # a rerun is what used to delete
        proc = _bench("--suite", str(suite), "--out", str(work / "out"), cwd=work)
        assert proc.returncode == 2 and "cannot be used as a folder name" in proc.stderr
    assert _tree(tmp_path) - before <= {"a/b/c/out"} and before <= _tree(tmp_path)
    assert (victim / "keep.txt").read_text() == "precious"


def test_a_run_folder_outside_the_output_is_refused_before_anything_is_deleted(tmp_path):
    from agents.benchmark import _inside

    assert _inside(tmp_path, "runs", "s", "seed0") == tmp_path / "runs" / "s" / "seed0"
    with pytest.raises(ValueError, match="outside the output folder"):
        _inside(tmp_path / "out", "runs/../../victim", "seed0")


# -------------------------------------------------------------------- delay curriculum
def _curriculum_run(tmp_path: Path, ladder=(2, 4), knob="delay", **task) -> dict:
    suite = {
        **TINY_SUITE,
        "name": "tiny",
        "agents": ["gru"],
        "seeds": [0],
        "budget": 2048,
        "n_envs": 4,
        "eval_episodes": 8,
        "hyperparameters": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
        "agent_overrides": {"gru": {"core_kwargs": {"hidden_size": 16}}},
        "tasks": [
            {
                "env": "memenvs/DelayedRecall-v0",
                "knob": knob,
                "ladder": list(ladder),
                "fixed": {} if knob == "num_symbols" else {"num_symbols": 4},
                "curriculum": True,
                **task,
            }
        ],
    }
    from agents.suite import validate_suite

    (run,) = plan(validate_suite(suite), len(ladder) - 1)
    return {**run, "out_root": str(tmp_path)}


def test_curriculum_moves_on_at_the_threshold_with_the_same_model_and_evaluates_at_the_rung(
    tmp_path,
):
    from agents.benchmark import train_one

    record = train_one(_curriculum_run(tmp_path, curriculum_success=0.0))  # advance at once
    (first, start), (second, reached) = record["curriculum"]
    assert (first, start, second) == (2, 0, 4)
    assert record["curriculum_success"] == 0.0  # compared on resume
    assert reached == 400  # at the step the 100th episode ended: 4 envs x 25 episodes x 4 steps
    assert record["value"] == 4 and record["evals"][0]["env_kwargs"]["delay"] == 4
    assert record["steps_trained"] >= 2048  # one budget for all rungs, not one per rung
    assert all(s > reached for s, _ in record["curve"][-1:])
    assert record["steps_to_95"] is None or record["steps_to_95"] > reached


def test_curriculum_that_never_meets_95_percent_stays_on_its_first_rung(tmp_path):
    from agents.benchmark import train_one

    record = train_one(_curriculum_run(tmp_path))  # 2,048 steps cannot solve delay 2
    assert record["curriculum"] == [[2, 0]] and record["success_rate"] < 0.95
    assert record["evals"][0]["env_kwargs"]["delay"] == 4 and record["steps_to_95"] is None


def test_curriculum_across_different_spaces_is_refused_before_training(tmp_path):
    """The suite refuses it when it loads; a run built without the suite still fails
    clearly when training reaches the rung (agents.ladder.switch_env)."""
    from agents.benchmark import train_one

    with pytest.raises(
        ValueError,
        match=r"tasks\[0\] trains one policy up its ladder \(curriculum\): .* at num_symbols=3 "
        r"has observation space .* but its first rung num_symbols=2 has",
    ):
        _curriculum_run(tmp_path, ladder=(2, 3), knob="num_symbols", curriculum_success=0.0)
    run = _curriculum_run(tmp_path, ladder=(2, 3), knob="num_symbols", curriculum=False)
    run = {**run, "curriculum": True, "curriculum_success": 0.0}
    with pytest.raises(ValueError, match="observation_space at rung 3 is Box.*same spaces"):
        train_one(run)


def test_records_and_resume_keys_say_whether_a_curriculum_was_used(tmp_path):
    from agents.benchmark import write_report
    from agents.results import run_key

    plain = _record(0, curriculum=None)
    taught = _record(
        1, value=4, env_kwargs={"num_symbols": 4, "delay": 4}, curriculum=[[2, 0], [4, 1200]]
    )
    assert run_key(plain) != run_key({**plain, "curriculum": [[2, 0]]})
    assert run_key(plain) == run_key({**plain, "curriculum": False})  # a plan vs its record
    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0, 1]}
    suite["tasks"] = [{**TINY_SUITE["tasks"][0], "ladder": [2, 4], "fixed": {"num_symbols": 4}}]
    text = write_report(suite, [plain, taught], tmp_path, "cmd")
    assert "| env-steps/s | curriculum |" in text
    row = next(line for line in text.splitlines() if line.startswith("| ppo |"))
    assert row.endswith("| no |")  # the task trains without: the curriculum run is left out
    assert "Left out: 1 record(s) made with a curriculum" in text
    suite["tasks"][0]["curriculum"] = True
    text = write_report(suite, [plain, taught], tmp_path, "cmd")
    row = next(line for line in text.splitlines() if line.startswith("| ppo |"))
    assert row.endswith("| yes |")
    assert "| ppo | 4 | 1 | 2@0, 4@1,200 |" in text


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"curriculum": "yes"}, "curriculum must be true or false"),
        ({"curriculum_success": 1.5}, "curriculum_success must be in"),
    ],
)
def test_bad_curriculum_settings_are_rejected(tmp_path, task, message):
    tasks = [{**TINY_SUITE["tasks"][0], **task}]
    with pytest.raises(ValueError, match=message):
        load_suite(str(_write_suite(tmp_path, tasks=tasks)))


# ------------------------------------------------------------- the installed toolkit
def _py(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_shipped_suites_load_by_name_from_any_directory(tmp_path):
    code = (
        "from agents.suite import known_suites, load_suite\n"
        "print(known_suites()); print(load_suite('smoke')['name'])"
    )
    proc = _py(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shipped = sorted(p.stem for p in (ROOT / "agents" / "suites").glob("*.json"))
    assert proc.stdout.splitlines() == [str(shipped), "smoke"]
    proc = _bench("--suite", "smoke", "--report-only", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = (tmp_path / "out" / "smoke" / "README.md").read_text()
    assert "a shipped suite's is `agents/suites/smoke.json`" in report
    # nothing trained there yet (a plan preview, or a mistyped --out): said, not an error
    assert "warning: no out/smoke/results.jsonl: every run is reported as not run" in proc.stderr


def test_suites_are_declared_as_package_data():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "suites/*.json" in config["tool"]["setuptools"]["package-data"]["agents"]
    assert any(
        d.startswith("matplotlib") for d in config["project"]["optional-dependencies"]["bench"]
    )


def test_the_library_imports_no_plotting_and_no_command_line(tmp_path):
    code = (
        "import sys, agents.benchmark\n"
        "print(sorted({'matplotlib', 'agents.benchmark_app'} & set(sys.modules)))"
    )
    proc = _py(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_missing_matplotlib_is_named_before_any_training(tmp_path):
    suite = _write_suite(tmp_path)
    argv = ["--suite", str(suite), "--out", str(tmp_path / "out"), "--no-progress"]
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        f"from agents.benchmark_app import main; main({argv!r})"
    )
    proc = _py(code, tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "pip install 'memenvs-agents[bench]'" in proc.stderr
    assert not (tmp_path / "out" / "tiny" / "results.jsonl").exists()


def test_report_gives_iqm_with_a_bootstrap_ci_only_where_there_are_three_seeds(tmp_path):
    from agents.benchmark import write_report

    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0, 1, 2]}
    suite["tasks"] = [{**TINY_SUITE["tasks"][0], "ladder": [2, 4], "fixed": {"num_symbols": 4}}]
    rates = {0: 0.2, 1: 0.5, 2: 0.9}
    records = [_record(s, success_rate=r) for s, r in rates.items()]
    records += [_record(s, value=4, env_kwargs={"num_symbols": 4, "delay": 4}) for s in (0, 1)]
    text = write_report(suite, records, tmp_path, "cmd", plots=False)
    assert "IQM of success over seeds [95% stratified bootstrap CI" in text
    row = next(line for line in text.splitlines() if line.startswith("| ppo | 0.53 ["))
    assert row.endswith("| n=2 |")  # two seeds at delay 4: no interval


def test_report_gives_the_probability_of_improvement_of_memory_agents_over_lstm(tmp_path):
    """By hand: at delay 2 every agent succeeds on every seed (all ties: 0.5); at delay 4
    each ntm run beats each lstm run (1.0); ntm over both rungs: 0.75, and every resample
    gives the same, so the interval is [0.75, 0.75]. stochastic-ntm was only run at delay 2
    (it failed there: skipped above), gru is a baseline, not a memory agent."""
    from agents.benchmark import write_report

    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0, 1, 2]}
    suite["agents"] = ["lstm", "gru", "ntm", "stochastic-ntm"]
    suite["tasks"] = [{**TINY_SUITE["tasks"][0], "ladder": [2, 4]}]
    rates = {
        ("lstm", 2): [1.0, 1.0, 1.0],
        ("lstm", 4): [0.2, 0.3, 0.25],
        ("ntm", 2): [1.0, 1.0, 1.0],
        ("ntm", 4): [1.0, 0.96, 0.4],
        ("gru", 2): [1.0, 1.0, 1.0],
        ("stochastic-ntm", 2): [0.9, 0.2, 1.0],
    }
    records = [
        _record(seed, agent=agent, value=value, env_kwargs={"delay": value}, success_rate=rate)
        for (agent, value), seed_rates in rates.items()
        for seed, rate in enumerate(seed_rates)
    ]
    text = write_report(suite, records, tmp_path, "cmd", plots=False)
    assert "Probability of improvement over `lstm`" in text
    rows = [line for line in text.splitlines() if "| P(" in line or "ntm" in line]
    assert "| **ntm** (best) | 0.75 [0.75, 0.75] | delay=2, delay=4 |" in rows
    # stochastic-ntm vs lstm at delay 2: pairs (0.9 or 0.2 vs 1.0) lose, 1.0 ties: 1.5 / 9
    assert "| stochastic-ntm | 0.17 [" in "\n".join(rows)
    assert "| gru | 0.50 [0.50, 0.50] | delay=2 |" not in text
    suite["seeds"] = [0, 1]  # too few seeds: no section
    two = [r for r in records if r["seed"] < 2]
    assert "Probability of improvement" not in write_report(suite, two, tmp_path, "c", plots=False)


@pytest.mark.parametrize("name", ["frontier-cpu", "frontier-budget", "frontier-chrono"])
def test_suites_with_committed_results_pin_memory_ppos_former_schedule(name):
    """Their results were made with MemoryPPO's former update schedule (4 epochs, quarter-
    rollout minibatches); a rerun must use it too, whatever MemoryPPO's default is now."""
    from agents.registry import AGENTS
    from agents.suite import load_suite, plan

    runs = plan(load_suite(name), 0)
    memory_runs = [
        r
        for r in runs
        if (spec := AGENTS.get(r["hyperparameters"].get("agent", r["agent"])))
        and spec.is_memory_agent
    ]
    assert memory_runs
    for run in memory_runs:
        assert run["hyperparameters"]["n_epochs"] == 4, run["agent"]
        assert run["hyperparameters"]["batch_size"] is None, run["agent"]


# ------------------------------------------------- suite validation, resume, exit status
DELAY_TASK = {"env": "memenvs/DelayedRecall-v0", "knob": "delay", "ladder": [2]}
BAD_SUITES = {  # field -> (suite changes, what the error names)
    "budget 0": ({"budget": 0}, "budget must be an integer >= 1, got 0"),
    "budget -5": ({"budget": -5}, "budget must be an integer >= 1"),
    "budget abc": ({"budget": "abc"}, "budget must be an integer >= 1, got 'abc'"),
    "no seeds": ({"seeds": []}, "seeds must be a non-empty list"),
    "seeds 3": ({"seeds": 3}, "seeds must be a non-empty list, got 3"),
    "repeated seed": ({"seeds": [0, 0]}, "seeds must not repeat a value, got 0"),
    "repeated agent": ({"agents": ["ppo", "ppo"]}, "agents must not repeat a value, got 'ppo'"),
    "no tasks": ({"tasks": []}, "tasks must be a non-empty list"),
    "empty ladder": ({"tasks": [{**DELAY_TASK, "ladder": []}]}, r"tasks\[0\].ladder must be a"),
    "ladder 5": ({"tasks": [{**DELAY_TASK, "ladder": 5}]}, r"tasks\[0\].ladder must be a non"),
    "repeated rung": ({"tasks": [{**DELAY_TASK, "ladder": [2, 2]}]}, "ladder must not repeat"),
    "fixed [1]": ({"tasks": [{**DELAY_TASK, "fixed": [1]}]}, r"tasks\[0\].fixed must be an obj"),
    "hyperparameters [1]": ({"hyperparameters": [1]}, "hyperparameters must be an object"),
    "agent_overrides [1]": ({"agent_overrides": [1]}, "agent_overrides must be an object"),
    "jobs 1025": ({"jobs": 1025}, r"jobs must be an integer in \[1, 1024\], got 1025"),
    # every run would train the lstm, labelled ppo (build_model reads the merged "agent")
    "hyperparameters.agent": (
        {"hyperparameters": {"agent": "lstm", "n_steps": 32}},
        "hyperparameters.agent is not allowed: .* set its agent in agent_overrides",
    ),
    "unknown agent": ({"agents": ["nope"]}, "agents: unknown agent 'nope'; use one of"),
    "unknown variant base": (
        {"agents": ["v"], "agent_overrides": {"v": {"agent": "nope"}}},
        r"agent_overrides\['v'\].agent: unknown agent 'nope'",
    ),
    "unknown env": (
        {"tasks": [{**DELAY_TASK, "env": "memenvs/Nope-v0"}]},
        r"tasks\[0\].env 'memenvs/Nope-v0' is not a registered environment",
    ),
    "unknown fixed knob": (
        {"tasks": [{**DELAY_TASK, "fixed": {"num_symbol": 4}}]},
        r"tasks\[0\] \(fixed, knob, ladder\): .* cannot be made",
    ),
    "unknown eval knob": (
        {"tasks": [{**DELAY_TASK, "eval": [{}, {"num_symbol": 8}]}]},
        r"tasks\[0\] \(fixed, knob, ladder, eval\): .* cannot be made",
    ),
    # the policy trains on 4 symbols and could not act on 8 (it used to fail at evaluation)
    "eval changes the spaces": (
        {"tasks": [{**DELAY_TASK, "eval": [{"num_symbols": 8}]}]},
        r"tasks\[0\].eval\[0\] \{'num_symbols': 8\}: .* has observation space Box\(.*\(10,\)"
        r".*but the rung it evaluates, delay=2 .* has Box\(.*\(6,\)",
    ),
    "eval changes the spaces of a later rung": (
        {
            "tasks": [
                {
                    **DELAY_TASK,
                    "knob": "num_symbols",
                    "ladder": [2, 3],
                    "fixed": {"delay": 2},
                    "eval": [{}, {"num_symbols": 2}],
                }
            ]
        },
        r"tasks\[0\].eval\[1\] .* but the rung it evaluates, num_symbols=3 ",
    ),
    "a curriculum whose rungs change the spaces": (
        {"tasks": [{**DELAY_TASK, "knob": "num_symbols", "ladder": [2, 3], "curriculum": True}]},
        r"tasks\[0\] trains one policy up its ladder \(curriculum\): .* at num_symbols=3 has "
        r"observation space .* but its first rung num_symbols=2 has",
    ),
    "same task twice": ({"tasks": [DELAY_TASK, DELAY_TASK]}, r"tasks\[0\] and tasks\[1\] both"),
    # they shared runs/<suite>/DelayedRecall-delay2/<agent>/seed<k>: a run deleted the other's
    "same env and knob, other fixed knobs": (
        {
            "tasks": [
                {**DELAY_TASK, "fixed": {"num_symbols": 4}},
                {**DELAY_TASK, "ladder": [2, 4], "fixed": {"num_symbols": 8}},
            ]
        },
        r"tasks\[0\] and tasks\[1\] both vary 'delay' of memenvs/DelayedRecall-v0 .*share "
        r"TensorBoard folders runs/<suite>/DelayedRecall-delay<value>/.*merge them into one "
        r"task or put them in distinct suites",
    ),
    "two rungs in one run folder": (
        {"tasks": [{**DELAY_TASK, "ladder": [2, "2"]}]},
        r"tasks\[0\] has two rungs in the run folder runs/<suite>/DelayedRecall-delay2/",
    ),
    # "episode" used one seed's episode: Copy's seed 0 lasts 38 steps, seed 1 only 7
    "n_steps episode on Copy": (
        {
            "hyperparameters": {"n_steps": "episode"},
            "tasks": [{"env": "memenvs/Copy-v0", "knob": "max_length", "ladder": [5]}],
        },
        r'tasks\[0\] \(agents \[\'ppo\'\]\): "n_steps": "episode" needs episodes of one '
        r"length, but memenvs/Copy-v0 with \{'max_length': 5\} has oracle episodes of 3 to 11",
    ),
    "n_steps episode on a delay range": (
        {
            "agents": ["ppo", "lstm"],
            "agent_overrides": {"lstm": {"n_steps": "episode"}},
            "tasks": [
                {**DELAY_TASK, "knob": "num_symbols", "ladder": [4], "fixed": {"delay": [2, 50]}}
            ],
        },
        r"tasks\[0\] \(agents \['lstm'\]\): .*DelayedRecall-v0 .* oracle episodes of 4 to 52",
    ),
    # the oracle's episodes all last 8 steps, an agent's as long as it takes: rollouts of 8
    # steps would not hold its episodes
    "n_steps episode where the length depends on the actions": (
        {
            "hyperparameters": {"n_steps": "episode"},
            "tasks": [{"env": "memenvs/Concentration-v0", "knob": "num_pairs", "ladder": [4]}],
        },
        r"tasks\[0\] .*memenvs/Concentration-v0 with \{'num_pairs': 4\} the length depends "
        r"on the actions: oracle episodes of 8 steps, episodes of random actions of 16 to 16",
    ),
    "n_envs 0": ({"n_envs": 0}, "n_envs must be an integer >= 1"),
    "device gpu": ({"device": "gpu"}, "device must be 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
    "device 0": ({"device": 0}, "device must be 'cpu', 'cuda' or 'cuda:N', got 0"),
    "eval_episodes 0": ({"eval_episodes": 0}, "eval_episodes must be an integer >= 1"),
    "eval_episodes '8'": ({"eval_episodes": "8"}, "eval_episodes must be an integer >= 1"),
    "eval [1]": ({"tasks": [{**DELAY_TASK, "eval": [1]}]}, r"tasks\[0\].eval must be a non"),
    "misspelt key n_env": (
        {"n_env": 2},
        r"unknown suite key 'n_env': a suite's keys are \[.*'n_envs'",
    ),
    "unknown key": ({"bogus_field": 1}, r"unknown suite key 'bogus_field': a suite's keys are"),
    "misspelt task key evals": (
        {"tasks": [{**DELAY_TASK, "evals": [{"num_symbols": 4}]}]},
        r"tasks\[0\]: unknown key 'evals': a task's keys are \[.*'eval'",
    ),
    # each agent's model is built once with its settings (these used to fail every run)
    "learning_rate -1": (
        {"agents": ["lstm"], "hyperparameters": {"learning_rate": -1}},
        r"hyperparameters: agent 'lstm' cannot be built with \{'learning_rate': -1\}: "
        r"ValueError: learning_rate must be a number > 0",
    ),
    "learning_rate -1 (SB3's PPO)": (  # make_agent checks it as MemoryPPO does
        {"hyperparameters": {"learning_rate": -1}},
        r"hyperparameters: agent 'ppo' cannot be built .*ValueError: learning_rate must be a "
        r"number > 0 or a schedule, got -1",
    ),
    "unknown hyperparameter": (
        {"hyperparameters": {"bogus": 1}},
        r"hyperparameters: agent 'ppo' cannot be built .*TypeError: .*unexpected keyword "
        r"argument 'bogus'",
    ),
    "n_steps 'episodes'": (
        {"agents": ["lstm"], "hyperparameters": {"n_steps": "episodes"}},
        r"hyperparameters: agent 'lstm' .*ValueError: n_steps must be an integer >= 1, "
        r"got 'episodes'",
    ),
    "override hidden_size 0": (
        {
            "agents": ["ppo", "lstm"],
            "agent_overrides": {"lstm": {"core_kwargs": {"hidden_size": 0}}},
        },
        r"agent_overrides.lstm: agent 'lstm' cannot be built with \{.*'core_kwargs': "
        r"\{'hidden_size': 0\}\}: ValueError: hidden_size must be an integer in \[1, ",
    ),
    "unknown override": (
        {"agents": ["ppo", "lstm"], "agent_overrides": {"lstm": {"bogus": 1}}},
        r"agent_overrides.lstm: agent 'lstm' .*TypeError: .*unexpected keyword argument 'bogus'",
    ),
    "variant's override": (
        {"agents": ["v"], "agent_overrides": {"v": {"agent": "ppo", "core_kwargs": {"x": 1}}}},
        r"agent_overrides.v: agent 'v' .*ValueError: core_kwargs apply to memory agents",
    ),
    "hyperparameters an override keeps": (
        {
            "agents": ["lstm"],
            "hyperparameters": {"n_steps": 0},
            "agent_overrides": {"lstm": {"core_kwargs": {"hidden_size": 8}}},
        },
        r"^hyperparameters: agent 'lstm' .*ValueError: n_steps must be an integer >= 1, got 0",
    ),
    # n_envs 2, eval_episodes 4: training envs s, s+1; evaluation envs 10000..10003
    "seed 9999": ({"seeds": [0, 9999]}, r"seeds \[9999\] would train on the evaluation"),
    "seed 10003": ({"seeds": [10003]}, "use seeds below 9999 or from 10004"),
}


@pytest.mark.parametrize("case", sorted(BAD_SUITES))
def test_a_bad_suite_is_one_error_naming_the_field(tmp_path, case):
    changes, message = BAD_SUITES[case]
    with pytest.raises(ValueError, match=message):
        load_suite(str(_write_suite(tmp_path, **changes)))


def test_settings_are_checked_as_the_runs_use_them():
    """Each agent's effective settings are checked: "n_steps": "episode" resolved at the rung
    (as the benchmark does), a setting its override replaces is not; CUDA is not needed to
    check a CUDA suite, and checking leaves the global random states alone."""
    import random

    import numpy as np
    import torch

    from agents.suite import validate_suite

    def draw() -> tuple:
        return random.random(), np.random.rand(), torch.rand(1).item()  # noqa: NPY002

    suite = {
        **TINY_SUITE,
        "name": "tiny",
        "agents": ["ppo", "lstm"],
        "device": "cuda",
        "hyperparameters": {"n_steps": "episodes"},  # a typo each agent overrides
        "agent_overrides": {"ppo": {"n_steps": "episode"}, "lstm": {"n_steps": 32}},
    }
    random.seed(1), np.random.seed(1), torch.manual_seed(1)  # noqa: NPY002
    expected = draw()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)  # noqa: NPY002
    assert validate_suite(suite) is suite
    assert draw() == expected
    suite["agent_overrides"] = {"ppo": {"n_steps": "episode"}}
    with pytest.raises(ValueError, match="^hyperparameters: agent 'lstm' .* got 'episodes'"):
        validate_suite(suite)


def test_seeds_next_to_the_evaluation_episodes_are_accepted(tmp_path):
    assert load_suite(str(_write_suite(tmp_path, seeds=[9998, 10004])))["seeds"] == [9998, 10004]


def test_the_evaluation_seeds_suites_avoid_are_those_of_evaluate_success():
    import inspect

    from agents.suite import EVAL_ENVS, EVAL_SEED
    from agents.training import evaluate_success

    defaults = inspect.signature(evaluate_success).parameters
    assert (defaults["seed"].default, defaults["n_envs"].default) == (EVAL_SEED, EVAL_ENVS)


def test_a_bad_suite_exits_2_with_one_line_before_any_training(tmp_path):
    suite = _write_suite(tmp_path, seeds=[0, 0])
    proc = _bench("--suite", str(suite), "--out", str(tmp_path / "out"), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("seeds must not repeat a value, got 0 twice in [0, 0]")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hyperparameters": {"n_steps": 32, "bogus": 1}}, "unexpected keyword argument 'bogus'"),
        ({"tasks": [{**DELAY_TASK, "eval": [{"num_symbols": 8}]}]}, "need the same spaces"),
    ],
    ids=["unknown hyperparameter", "eval changes the spaces"],
)
def test_a_suite_its_runs_would_fail_exits_2_before_any_training(tmp_path, changes, message):
    """The runs of these suites used to train (or fail to start) and exit 1 at the end."""
    suite = _write_suite(tmp_path, agents=["lstm"], seeds=[0], **changes)
    proc = _bench("--suite", str(suite), "--out", str(tmp_path / "out"), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


def _plan_record(suite: dict, **changes) -> dict:
    """The record train_one would write for the suite's first run (made up results)."""
    from agents.benchmark import hyperparameters

    (run, *_) = plan(suite, 0)
    keep = ("agent", "env", "knob", "value", "env_kwargs", "seed", "budget", "n_envs", "device")
    record = {k: run[k] for k in keep} | {"eval_episodes": run["eval_episodes"]}
    record |= {"hyperparameters": hyperparameters(run), "curriculum": None}
    return {**_record(), **record, **changes}


def test_resume_refuses_records_of_other_settings_and_compares_what_old_records_have(tmp_path):
    from agents.benchmark import check_resumable
    from agents.results import ResultsError

    suite = load_suite(str(_write_suite(tmp_path, hyperparameters={"n_steps": "episode"})))
    path = tmp_path / "results.jsonl"
    made = _plan_record(suite)
    assert made["hyperparameters"]["n_steps"] == 32  # "episode", resolved
    check_resumable(suite, [made], path)
    for changed, message in [
        ({"budget": 4096}, "budget 256, not 4096"),
        ({"n_envs": 8}, "n_envs 2, not 8"),
        ({"eval_episodes": 200}, "eval_episodes 4, not 200"),
        ({"hyperparameters": {"n_steps": 64}}, "hyperparameters.n_steps 32, not 64"),
        (
            {"hyperparameters": {"n_steps": "episode", "learning_rate": 0.01}},
            "hyperparameters.learning_rate unset, not 0.01",
        ),
        ({"hyperparameters": {}}, "hyperparameters.n_steps 32, not unset"),
    ]:
        with pytest.raises(ResultsError, match=f"results.jsonl, line 1: run ppo/.*{message}"):
            check_resumable({**suite, **changed}, [made], path)
    # a record of older code (no n_envs) is compared on what it has: its budget and the
    # hyperparameters it lists (suites with such results pinned others later)
    old = {k: v for k, v in made.items() if k not in ("n_envs", "eval_episodes")}
    pinned = {"n_steps": "episode", "n_epochs": 4}
    check_resumable({**suite, "hyperparameters": pinned, "n_envs": 8}, [old], path)
    with pytest.raises(ResultsError, match="budget 256, not 4096"):
        check_resumable({**suite, "budget": 4096}, [old], path)
    with pytest.raises(ResultsError, match="hyperparameters.n_steps 32, not 64"):
        check_resumable({**suite, "hyperparameters": {"n_steps": 64}}, [old], path)
    other_seed = _plan_record(suite, seed=7, budget=1)  # not a run of this suite: ignored
    check_resumable(suite, [other_seed], path)


def test_resume_refuses_records_made_on_another_device(tmp_path):
    """The device was recorded but not compared: a resume on cuda reused cpu records."""
    from agents.benchmark import check_resumable
    from agents.results import ResultsError

    suite = load_suite(str(_write_suite(tmp_path)))
    path = tmp_path / "results.jsonl"
    on_cpu, on_cuda = _plan_record(suite), _plan_record({**suite, "device": "cuda"})
    assert (on_cpu["device"], on_cuda["device"]) == ("cpu", "cuda")
    check_resumable(suite, [on_cpu], path)
    check_resumable({**suite, "device": "cuda"}, [on_cuda], path)
    with pytest.raises(ResultsError, match="line 1: run ppo/.* made with device 'cpu', not 'cuda'"):
        check_resumable({**suite, "device": "cuda"}, [on_cpu], path)
    with pytest.raises(ResultsError, match="made with device 'cuda', not 'cpu'"):
        check_resumable(suite, [on_cuda], path)
    # a record without a device (train_one always writes one) is not compared on it
    no_device = {k: v for k, v in on_cpu.items() if k != "device"}
    check_resumable({**suite, "device": "cuda"}, [no_device], path)


def test_resume_refuses_records_of_other_evaluations_or_curriculum_success(tmp_path):
    """A changed eval setting or curriculum_success reused the old records (exit 0)."""
    from agents.benchmark import check_resumable
    from agents.results import ResultsError

    suite = load_suite(str(_write_suite(tmp_path, seeds=[0])))
    path = tmp_path / "results.jsonl"
    evals = [{"env_kwargs": {"delay": 2}, "success_rate": 0.5, "mean_return": 0.5}]
    made = _plan_record(suite, evals=evals)
    check_resumable(suite, [made], path)
    noisy = [{**DELAY_TASK, "eval": [{"num_symbols": 4, "noise": True}]}]
    noisy = load_suite(str(_write_suite(tmp_path, seeds=[0], tasks=noisy)))
    with pytest.raises(
        ResultsError,
        match=r"line 1: run ppo/.* made with eval env_kwargs \[\{'delay': 2\}\], "
        r"not \[\{'delay': 2, 'num_symbols': 4, 'noise': True\}\]",
    ):
        check_resumable(noisy, [made], path)
    check_resumable(noisy, [{k: v for k, v in made.items() if k != "evals"}], path)  # older

    taught = [{**DELAY_TASK, "ladder": [2, 4], "curriculum": True}]
    taught = load_suite(str(_write_suite(tmp_path, seeds=[0], tasks=taught)))
    made = _plan_record(taught, evals=evals, curriculum=[[2, 0]], curriculum_success=0.95)
    check_resumable(taught, [made], path)
    taught["tasks"][0]["curriculum_success"] = 0.5
    with pytest.raises(ResultsError, match="made with curriculum_success 0.95, not 0.5"):
        check_resumable(taught, [made], path)
    check_resumable(taught, [{k: v for k, v in made.items() if k != "curriculum_success"}], path)


@pytest.mark.parametrize(
    "folder",
    sorted(p.parent for p in (ROOT / "benchmarks" / "results").glob("*/results.jsonl")),
    ids=lambda p: p.name,
)
def test_every_committed_results_file_still_resumes_under_its_suite(folder):
    from agents.benchmark import check_resumable
    from agents.results import read_results

    records = read_results(folder / "results.jsonl")
    check_resumable(load_suite(folder.name), records, folder / "results.jsonl")


def test_a_changed_suite_on_old_results_exits_2_and_an_unchanged_one_reuses_them(tmp_path):
    suite = load_suite(str(_write_suite(tmp_path, seeds=[0])))
    results = tmp_path / "out" / "tiny" / "results.jsonl"
    results.parent.mkdir(parents=True)
    results.write_text(json.dumps(_plan_record(suite)) + "\n")
    before = results.read_text()
    args = ["--out", str(tmp_path / "out"), "--no-plots"]
    proc = _bench(
        "--suite", str(_write_suite(tmp_path, seeds=[0], budget=4096)), *args, cwd=tmp_path
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    run = "run ppo/memenvs/DelayedRecall-v0/delay=2/seed0"
    assert f"results.jsonl, line 1: {run} made with budget 256, not 4096" in proc.stderr
    assert "use the same settings to resume, or another --out" in proc.stderr
    proc = _bench(
        "--suite",
        str(_write_suite(tmp_path, seeds=[0], budget=4096)),
        "--report-only",
        *args,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "budget 256, not 4096" in proc.stderr
    proc = _bench("--suite", str(_write_suite(tmp_path, seeds=[0])), *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]  # nothing left to train
    assert results.read_text() == before
    assert "| ppo | 0.50 (0.50-0.50) |" in (results.parent / "README.md").read_text()


def test_failed_runs_give_exit_status_1_after_the_report(tmp_path):
    # a setting PPO takes but its first update cannot use (one it refused would now stop
    # the suite at validation, exit status 2): an Adam that steps in place under autograd
    # (make_agent now refuses target_kl "high", which this test used to run)
    optimizer = {"optimizer_kwargs": {"differentiable": True}}
    hp = {**TINY_SUITE["hyperparameters"], "policy_kwargs": optimizer}
    suite = _write_suite(tmp_path, seeds=[0], hyperparameters=hp)
    proc = _bench("--suite", str(suite), "--out", str(tmp_path / "out"), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "run ppo/memenvs/DelayedRecall-v0/delay=2/seed0 failed: RuntimeError" in proc.stderr
    assert "1 run(s) failed (reported above); rerun to retry them" in proc.stderr
    assert (tmp_path / "out" / "tiny" / "README.md").is_file()
    assert not (tmp_path / "out" / "tiny" / "results.jsonl").exists()


@pytest.mark.parametrize(
    ("blocker", "out"), [("out", "out"), ("out/tiny", "out"), ("out", "out/deeper")]
)
@pytest.mark.parametrize("mode", [[], ["--report-only"], ["--report-only", "--repair"]])
def test_an_out_that_is_a_file_exits_2_naming_out(tmp_path, capsys, blocker, out, mode):
    from agents.benchmark_app import main

    (tmp_path / blocker).parent.mkdir(exist_ok=True)
    (tmp_path / blocker).write_text("a file, where --out or its suite folder would be")
    argv = ["--suite", str(_write_suite(tmp_path)), "--out", str(tmp_path / out), *mode]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--no-plots", "--no-progress"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--out: {tmp_path / blocker} is a file, not a folder" in err


def test_each_task_on_the_same_env_and_knob_reports_only_its_own_records(tmp_path):
    from agents.benchmark import write_report

    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0, 1, 2]}
    suite["tasks"] = [
        {**DELAY_TASK, "ladder": [2, 4], "fixed": {"num_symbols": 4}},
        {**DELAY_TASK, "ladder": [2, 4], "fixed": {"num_symbols": 8}},
    ]
    records = [
        _record(seed, value=v, env_kwargs={"num_symbols": n, "delay": v}, success_rate=rate)
        for n, rate in [(4, 1.0), (8, 0.1)]
        for v in (2, 4)
        for seed in range(3)
    ]
    text = write_report(suite, records, tmp_path, "cmd", plots=False)
    easy, hard = text.split("fixed {'num_symbols': 8}")
    assert "| ppo | 1.00 (1.00-1.00) | 1.00 (1.00-1.00) | 4 |" in easy
    assert "| ppo | 0.10 (0.10-0.10) | 0.10 (0.10-0.10) | none |" in hard
    assert "| ppo | 1.00 [1.00, 1.00] | 1.00 [1.00, 1.00] |" in easy  # IQM over 3 seeds only
    assert "| ppo | 0.10 [0.10, 0.10] | 0.10 [0.10, 0.10] |" in hard


def test_each_task_on_the_same_env_gets_its_own_plots(tmp_path, monkeypatch):
    """Tasks sharing an env used to share one figure file (the later overwrote it) and each
    plotted both tasks' records."""
    pytest.importorskip("matplotlib")
    from agents import plots

    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0]}
    suite["tasks"] = [
        {**DELAY_TASK, "ladder": [2], "fixed": {"num_symbols": 4}},
        {**DELAY_TASK, "ladder": [2], "fixed": {"num_symbols": 8}},
    ]
    records = [
        _record(0, value=2, env_kwargs={"num_symbols": n, "delay": 2}, success_rate=rate)
        for n, rate in [(4, 1.0), (8, 0.1)]
    ]
    plotted = []
    median = plots.median_success
    monkeypatch.setattr(plots, "median_success", lambda rs: plotted.append(rs) or median(rs))
    plots.write_plots(suite, records, tmp_path)
    assert [[r["success_rate"] for r in rs] for rs in plotted] == [[1.0], [0.1]]
    name = DELAY_TASK["env"].split("/")[-1].removesuffix("-v0")
    knob = DELAY_TASK["knob"]
    for i in (0, 1):
        assert (tmp_path / f"success_vs_{knob}_{name}-{i}.png").exists()
        assert (tmp_path / f"curves_{name}-{i}.png").exists()


def test_a_ladder_with_0_plots_every_point(tmp_path, monkeypatch):
    """A base-2 log axis dropped delay 0 (a valid rung) from the success plot."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from agents import plots

    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0]}
    suite["tasks"] = [{**DELAY_TASK, "ladder": [0, 1, 4]}]
    records = [_record(0, value=v, env_kwargs={"delay": v}) for v in (0, 1, 4)]
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    plots.write_plots(suite, records, tmp_path)
    ax = figures[0].axes[0]  # success vs delay
    (line,) = ax.get_lines()[:1]
    low, high = ax.get_xlim()
    assert list(line.get_xdata()) == [0, 1, 4]
    assert all(low < x < high for x in line.get_xdata())
    assert np.isfinite(ax.transData.transform(line.get_xydata())).all()


def test_the_report_counts_only_the_suites_seeds(tmp_path):
    """A seed dropped from the suite keeps its records in results.jsonl; the tables and
    the IQM used to count them."""
    from agents.benchmark import write_report

    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0, 1]}
    suite["tasks"] = [{**DELAY_TASK, "ladder": [2]}]
    kept = [_record(seed, value=2, env_kwargs={"delay": 2}, success_rate=1.0) for seed in (0, 1)]
    dropped = _record(2, value=2, env_kwargs={"delay": 2}, success_rate=0.0)
    text = write_report(suite, [*kept, dropped], tmp_path, "cmd", plots=False)
    assert "| ppo | 1.00 (1.00-1.00) |" in text  # with seed 2: 1.00 (0.00-1.00)


def test_the_report_counts_only_the_rungs_of_the_current_ladder(tmp_path):
    """Records of a rung since removed from the ladder stay in results.jsonl; frontier()
    used to pick it and the probability of improvement then failed with
    ``ValueError: 8 is not in list``."""
    from agents.benchmark import write_report

    suite = {**TINY_SUITE, "name": "tiny", "agents": ["lstm", "episodic"], "seeds": [0, 1, 2]}
    suite["tasks"] = [{**DELAY_TASK, "ladder": [2, 4]}]
    records = [
        _record(seed, agent=agent, value=v, env_kwargs={"delay": v}, success_rate=1.0)
        for agent in ("lstm", "episodic", "gru")  # gru: an agent no longer in the suite
        for v in (2, 4, 8)
        for seed in range(3)
    ]
    text = write_report(suite, records, tmp_path, "cmd", plots=False)
    assert "| episodic | 1.00 (1.00-1.00) | 1.00 (1.00-1.00) | 4 |" in text
    assert "delay=8" not in text and "| gru |" not in text
    assert "| **episodic** (best) | 0.50 [0.50, 0.50] | delay=2, delay=4 |" in text


def _evals(record: dict, *extras: dict, rate: float = 1.0) -> dict:
    """``record`` with ``evals`` at its env kwargs updated by each of ``extras``."""
    evals = [
        {"env_kwargs": {**record["env_kwargs"], **e}, "success_rate": rate, "mean_return": rate}
        for e in extras
    ]
    return {**record, "evals": evals}


def test_extra_evaluations_are_headed_by_the_suites_eval_settings_not_the_first_rungs(tmp_path):
    """The column was headed by the first rung's env kwargs (``{"delay": 2, "noise": true}``)
    although the runs at delay 4 were evaluated at delay 4."""
    from agents.benchmark import write_report

    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0]}
    suite["tasks"] = [{**DELAY_TASK, "ladder": [2, 4], "eval": [{}, {"noise": True}]}]
    records = [
        _evals(_record(0, value=v, env_kwargs={"delay": v}), {}, {"noise": True}) for v in (2, 4)
    ]
    text = write_report(suite, records, tmp_path, "cmd", plots=False)
    assert '| agent | trained at | as trained | `{"noise": true}` |' in text
    assert "| ppo | 4 | 1.00 (1.00) | 1.00 (1.00) |" in text


def test_the_report_leaves_out_records_of_the_other_curriculum_protocol(tmp_path):
    """After a task's curriculum flag changed, the old records (resume keys them apart)
    were counted too (6 runs for 3 seeds, IQM over both), the eval columns came from an
    old record (the new eval never showed), and a shorter ``evals`` crashed the report
    with IndexError."""
    from agents.benchmark import write_report

    extras = [{}, {"noise": True}, {"delay": 8}]
    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0, 1, 2]}
    suite["tasks"] = [{**DELAY_TASK, "ladder": [2, 4], "eval": extras, "curriculum": True}]
    old = [
        _evals(_record(s, env_kwargs={"delay": 2}, success_rate=0.0), *extras[:2], rate=0.0)
        for s in range(3)
    ]
    new = [
        _evals(_record(s, env_kwargs={"delay": 2}, success_rate=1.0, curriculum=[[2, 0]]), *extras)
        for s in range(3)
    ]
    new.append(  # a run that lacks the delay-8 evaluation
        _evals(
            _record(0, value=4, env_kwargs={"delay": 4}, curriculum=[[2, 0], [4, 9]]),
            *extras[:2],
            rate=0.5,
        )
    )
    text = write_report(suite, [*new, *old], tmp_path, "cmd", plots=False)
    assert "Left out: 3 record(s) made without a curriculum" in text
    assert "| ppo | 1.00 (1.00-1.00) | 0.50 (0.50-0.50), 1 of 3 seeds |" in text
    assert "| ppo | 1.00 [1.00, 1.00] | n=1 |" in text  # IQM of the 3 new runs only
    assert '| as trained | `{"noise": true}` | `{"delay": 8}` |' in text
    assert "| ppo | 2 | 1.00 (1.00) | 1.00 (1.00) | 1.00 (1.00) |" in text
    assert "| ppo | 4 | 0.50 (0.50) | 0.50 (0.50) | - |" in text


def test_a_rung_with_seeds_missing_is_marked_and_its_frontier_not_final(tmp_path):
    """With seeds [0, 1, 2] and only seed 0 recorded the row used to read like a finished
    result (frontier 4)."""
    from agents.benchmark import write_report

    suite = {**TINY_SUITE, "name": "tiny", "seeds": [0, 1, 2]}
    suite["tasks"] = [{**DELAY_TASK, "ladder": [2, 4, 8]}]
    records = [_record(0, value=v, env_kwargs={"delay": v}, success_rate=1.0) for v in (2, 4)]
    records += [
        _record(seed, value=8, env_kwargs={"delay": 8}, success_rate=0.0) for seed in (0, 1)
    ]
    text = write_report(suite, records, tmp_path, "cmd", plots=False)
    one = "1.00 (1.00-1.00), 1 of 3 seeds"
    assert f"| ppo | {one} | {one} | 0.00 (0.00-0.00), 2 of 3 seeds | 4 so far (unfinished) |" in (
        text
    )


@pytest.mark.parametrize("mode", [[], ["--report-only"], ["--report-only", "--repair"]])
def test_an_out_that_cannot_be_created_exits_2_naming_out(tmp_path, capsys, mode):
    """It ended in a FileNotFoundError traceback from the output lock, exit status 1."""
    from agents.benchmark_app import main

    out = Path("/proc/nonexistent-benchmark-out")
    argv = ["--suite", str(_write_suite(tmp_path)), "--out", str(out), *mode]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--no-plots", "--no-progress"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--out: cannot create {out / 'tiny'} (" in err
    assert not out.exists()


def test_the_process_pool_has_at_most_one_worker_per_run(monkeypatch):
    """A pool forks all its workers at the first submit: jobs 1000 for one run forked 1000."""
    from concurrent.futures import Future

    import agents.benchmark as bench

    sizes = []

    class Pool:
        def submit(self, fn, run):
            future = Future()
            future.set_result({"seed": run["seed"]})
            return future

        def shutdown(self):
            pass

    monkeypatch.setattr(bench, "worker_pool", lambda jobs, init=None: sizes.append(jobs) or Pool())
    with bench.trial_engine("process", 1024) as train_all:
        assert list(train_all([{"seed": 0}])) == [{"seed": 0}]
        assert len(list(train_all([{"seed": s} for s in range(3)]))) == 3
    assert sizes == [1, 3]


@pytest.mark.parametrize("jobs", ["0", "1025", "1000000"])
def test_jobs_out_of_range_exits_2_naming_jobs(tmp_path, capsys, jobs):
    from agents.benchmark_app import main

    argv = ["--suite", str(_write_suite(tmp_path)), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--jobs", jobs, "--no-plots", "--no-progress"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--jobs must be an integer in [1, 1024], got {jobs}" in err
    assert not (tmp_path / "out").exists()

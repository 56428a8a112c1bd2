"""Benchmark trials on Ray (the sweep extra): addresses, resources, the reaper, and a
kill -9 of the driver mid-trial followed by a resume that loses and repeats nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_benchmark import TINY_SUITE, _plan_record

from agents.benchmark_app import main
from agents.results import read_results, run_key
from agents.sweep import check_address, trial_resources
from agents.workers import descendants

TINY = {
    **TINY_SUITE,
    "agents": ["ppo", "lstm"],
    "budget": 512,
    "jobs": 1,
    "agent_overrides": {"lstm": {"core_kwargs": {"hidden_size": 8}}},
}
# what a trial computes (the rest is timing, dates and where it ran)
DETERMINED = ("success_rate", "mean_return", "evals", "curve", "steps_trained", "steps_to_95")


@pytest.mark.parametrize(
    "address", ["auto", "127.0.0.1:6379", "head-node.example:10001", "ray://10.0.0.1:10001"]
)
def test_cluster_addresses_are_accepted(address):
    assert check_address(address) == address


@pytest.mark.parametrize(
    "address", ["", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "http://h:1", "h:port", "a b:1"]
)
def test_bad_addresses_are_a_clear_error(address):
    with pytest.raises(ValueError, match="is not a Ray cluster address"):
        check_address(address)


def test_a_cuda_trial_asks_for_one_gpu_and_a_cpu_trial_for_none():
    assert trial_resources({"device": "cuda"}) == {"num_cpus": 1, "num_gpus": 1}
    assert trial_resources({"device": "cuda:1", "threads": 2}) == {"num_cpus": 2, "num_gpus": 1}
    assert trial_resources({"device": "cpu"}) == {"num_cpus": 1, "num_gpus": 0}


def _suite(folder: Path, **changes) -> Path:
    path = folder / "tiny.json"
    path.write_text(json.dumps({**TINY, **changes}))
    return path


def test_an_address_where_no_cluster_listens_is_a_clear_error_not_a_hang(tmp_path, capsys):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["--suite", str(_suite(tmp_path)), "--out", str(tmp_path / "out")]
    start = time.monotonic()
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--address", f"127.0.0.1:{port}", "--no-progress", "--no-plots"])
    assert exit_.value.code == 2 and time.monotonic() - start < 30
    err = capsys.readouterr().err
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in err and "ray start --head" in err
    assert not (tmp_path / "out" / "tiny" / "results.jsonl").exists()


def test_ray_missing_is_named_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    argv = ["--suite", str(_suite(tmp_path)), "--out", str(tmp_path / "out"), "--engine", "ray"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--no-progress", "--no-plots"])
    assert exit_.value.code == 2
    assert "pip install 'memenvs-agents[sweep]'" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tiny").exists()


RUN = "run ppo/memenvs/DelayedRecall-v0/delay=2/seed0"


@pytest.mark.parametrize(
    ("changes", "line", "message"),
    [
        ({"budget": 4096}, None, f"line 1: {RUN} made with budget 512, not 4096"),
        ({"device": "cuda"}, None, f"line 1: {RUN} made with device 'cpu', not 'cuda'"),
        ({}, "{not json", "line 2: not valid JSON"),
    ],
    ids=["budget", "device", "corrupt"],
)
def test_a_refused_resume_exits_2_before_ray_starts(
    tmp_path, capsys, monkeypatch, changes, line, message
):
    """Ray used to start (seconds, and processes) before the resume was refused."""
    pytest.importorskip("ray")
    from agents.suite import load_suite
    from agents.sweep import RaySession

    def no_ray(self):
        pytest.fail("Ray started before the resume was checked")

    monkeypatch.setattr(RaySession, "__enter__", no_ray)
    results = tmp_path / "out" / "tiny" / "results.jsonl"
    results.parent.mkdir(parents=True)
    record = json.dumps(_plan_record(load_suite(str(_suite(tmp_path)))))
    results.write_text("".join(f"{x}\n" for x in (record, line) if x is not None))
    argv = ["--suite", str(_suite(tmp_path, **changes)), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--engine", "ray", "--no-progress", "--no-plots"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert f"results.jsonl, {message}" in err


def test_engine_and_jobs_are_checked_by_the_library_too():
    from agents.benchmark import trial_engine

    with pytest.raises(ValueError, match="engine must be one of"), trial_engine("spark", 1):
        pass
    with pytest.raises(ValueError, match="jobs must be an integer >= 1"), trial_engine("ray", 0):
        pass
    with (
        pytest.raises(ValueError, match="needs the ray engine"),
        trial_engine("process", 1, address="127.0.0.1:6379"),
    ):
        pass


def _alive(pid: int, started: int) -> bool:
    from agents.workers import _start_time

    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and _start_time(pid) == started


def _wait_gone(procs: dict[int, int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(_alive(p, t) for p, t in procs.items()) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [f"{p} {_command(p)}" for p, t in procs.items() if _alive(p, t)]
    for line in survivors:  # leave nothing behind, then fail
        os.kill(int(line.split()[0]), signal.SIGKILL)
    return survivors


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_reaper_kills_what_its_parent_started_when_the_parent_is_killed():
    """The parent starts a reaper, then a grandchild in its own session (as Ray's agents are
    started: nothing else would end it), then dies of SIGKILL."""
    code = (
        "import subprocess, sys, time\n"
        "from agents.workers import start_reaper\n"
        "start_reaper()\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
        " start_new_session=True)\n"
        "print('ready', flush=True); time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout.readline().strip() == "ready"
        left = descendants(parent.pid)
        assert len(left) == 2  # the reaper and the sleeper
    finally:
        parent.kill()
        parent.wait()
    assert not _wait_gone(left, 10)
    assert f"reaper: process {parent.pid} died; killed 1 process(es)" in parent.stderr.read()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_reaper_outlives_a_ctrl_c_of_its_parents_group_then_reaps():
    """Ctrl-C in a terminal signals the whole foreground group: the reaper used to die of
    it (KeyboardInterrupt), so a parent then killed left its helpers behind. Here the group
    and the reaper itself get SIGINT, then the parent (which survives it) SIGKILL."""
    code = (
        "import signal, subprocess, sys, time\n"
        "from agents.workers import start_reaper\n"
        "reaper = start_reaper()\n"
        "signal.signal(signal.SIGINT, lambda *_: None)  # shutting down when killed\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
        " start_new_session=True)\n"
        "print(reaper.pid, flush=True); time.sleep(600)\n"
    )
    parent = subprocess.Popen(  # a group of its own, as a terminal's job (not pytest's)
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        reaper = int(parent.stdout.readline())
        left = descendants(parent.pid)
        assert reaper in left and len(left) == 2  # the reaper and the sleeper
        os.killpg(parent.pid, signal.SIGINT)
        os.kill(reaper, signal.SIGINT)
        time.sleep(0.3)
    finally:
        parent.kill()
        parent.wait()
    assert not _wait_gone(left, 10)
    err = parent.stderr.read()
    assert f"reaper: process {parent.pid} died; killed 1 process(es)" in err, err


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_reaper_also_kills_what_a_noted_process_started_after_the_last_note():
    """A daemon that restarts one of its agents between two notes (the agent unmarked, as
    one whose title rewrite blanked its environment): the noted daemon's new child is a
    target too, found at the parent's death."""
    from agents.workers import _start_time, _targets

    daemon = subprocess.Popen(["bash", "-c", "sleep 60 & wait"])
    try:
        deadline = time.monotonic() + 10
        while not (agent := descendants(daemon.pid)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        seen = {daemon.pid: _start_time(daemon.pid)}  # noted before the agent started
        assert _targets(seen, marker="no-such-marker") == {daemon.pid, *agent}
        assert set(agent) <= set(seen)  # noted now, for the reaper's second pass
    finally:
        for pid in descendants(daemon.pid):
            os.kill(pid, signal.SIGKILL)
        daemon.kill()
        daemon.wait()


def test_a_stopped_reaper_kills_nothing():
    from agents.workers import REAPER_ENV, start_reaper, stop_reaper

    reaper = start_reaper()
    assert os.environ[REAPER_ENV]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        stop_reaper(reaper)
        assert REAPER_ENV not in os.environ and reaper.returncode == 0
        time.sleep(1)
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_failed_run_is_reported_by_name(capsys):
    """Two failed runs used to print the same line, naming neither."""
    from agents.sweep import report_failure

    run = {"agent": "lstm", "env": "memenvs/DelayedRecall-v0", "knob": "delay", "value": 2}
    report_failure(ValueError("device='cuda' was asked for\nmore"), {**run, "seed": 1})
    assert capsys.readouterr().err == (
        "run lstm/memenvs/DelayedRecall-v0/delay=2/seed1 failed: ValueError: "
        "device='cuda' was asked for\n"
    )


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _bench(*args: str, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "agents.benchmark", "--no-progress", "--no-plots", *args]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find Ray's processes")
def test_ray_run_killed_mid_trial_then_resumed_equals_an_uninterrupted_run(tmp_path):
    """4 trials, one at a time: kill -9 the driver once the first record is written (the
    second trial is then training), check every Ray process it started dies, resume, and
    compare with the same suite run uninterrupted by the process pool."""
    pytest.importorskip("ray")
    suite = _suite(tmp_path)
    plain = _bench("--suite", str(suite), "--out", "plain", cwd=tmp_path)
    assert plain.wait(timeout=300) == 0, plain.stderr.read()[-3000:]

    results = tmp_path / "ray" / "tiny" / "results.jsonl"
    runner = _bench("--suite", str(suite), "--out", "ray", "--engine", "ray", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while _lines(results) < 1:
            assert runner.poll() is None, runner.stderr.read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.1)
        tree = descendants(runner.pid)  # Ray's daemons, its workers, the reaper
        assert any("raylet" in _command(p) for p in tree) and len(tree) >= 4
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    survivors = _wait_gone(tree, 90)  # Ray's agents can take >30 s to go on a loaded machine
    said = runner.stderr.read().decode(errors="replace")[-1500:]
    assert not survivors, f"Ray processes outlived the killed driver: {survivors}\n{said}"
    killed_at = _lines(results)
    assert 1 <= killed_at < 4, killed_at  # the kill came mid-suite

    resumed = _bench("--suite", str(suite), "--out", "ray", "--engine", "ray", cwd=tmp_path)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-3000:]
    records = read_results(results)  # no duplicate, no broken line, or this raises
    assert _lines(results) == len(records) == 4
    expected = {run_key(r): r for r in read_results(tmp_path / "plain" / "tiny" / "results.jsonl")}
    assert {run_key(r) for r in records} == set(expected)
    for r in records:
        assert {k: r[k] for k in DETERMINED} == {k: expected[run_key(r)][k] for k in DETERMINED}
        assert r["node"]["id"] and "node" not in expected[run_key(r)]
        events = list((tmp_path / "ray" / r["tensorboard"]).glob("events.out.tfevents.*"))
        assert len(events) == 1  # a trial rerun after the kill starts an empty folder


# ----------------------------------------------------------------------------- --tune
def test_the_search_space_is_for_memory_ppo_cores_only():
    from agents.sweep import search_space

    assert set(search_space("ntm")) == {
        "learning_rate",
        "ent_coef",
        "rollout_episodes",
        "core_size",
    }
    with pytest.raises(ValueError, match="needs a MemoryPPO agent"):
        search_space("ppo")


def test_trial_parameters_set_whole_episode_rollouts_and_the_core_width():
    from agents.benchmark import episode_length
    from agents.suite import plan, validate_suite
    from agents.sweep import apply_params

    suite = validate_suite({**TINY, "name": "tiny", "hyperparameters": {"n_steps": "episode"}})
    run = next(r for r in plan(suite, 0) if r["agent"] == "lstm")
    params = {"learning_rate": 1e-3, "ent_coef": 0.02, "rollout_episodes": 4, "core_size": 64}
    hp = apply_params(run, params, "lstm")["hyperparameters"]
    length = episode_length(run["env"], run["env_kwargs"])
    assert hp["n_steps"] == 4 * length * -(-32 // length) and hp["n_steps"] % length == 0
    assert hp["core_kwargs"] == {"hidden_size": 64} and hp["learning_rate"] == 1e-3
    assert run["hyperparameters"]["core_kwargs"] == {"hidden_size": 8}  # the plan is untouched
    ntm = apply_params({**run, "hyperparameters": {"n_steps": 40}}, params, "ntm")
    assert ntm["hyperparameters"]["n_steps"] == 160
    assert ntm["hyperparameters"]["core_kwargs"] == {"controller_size": 64}


def test_trial_score_by_hand():
    from agents.sweep import trial_score

    solved_early = {"success_rate": 1.0, "steps_trained": 500, "budget": 1000}
    unsolved = {"success_rate": 0.5, "steps_trained": 1000, "budget": 1000}
    overshot = {"success_rate": 0.96, "steps_trained": 1040, "budget": 1000}  # no negative bonus
    assert trial_score([solved_early, unsolved]) == pytest.approx((1.0 + 0.1 * 0.5 + 0.5) / 2)
    assert trial_score([overshot]) == pytest.approx(0.96)


def test_a_bad_trials_line_names_the_file_and_line(tmp_path):
    from agents.results import ResultsError
    from agents.sweep import read_trials, search_space

    space = search_space("lstm")
    good = {"learning_rate": 1e-3, "ent_coef": 0.01, "rollout_episodes": 2, "core_size": 32}
    path = tmp_path / "trials.jsonl"
    run = {"budget": 256, "seed": 0}
    lines = [
        {"trial": 0, "params": good, "score": 0.5, "runs": [run]},
        {"trial": 1, "params": {**good}, "runs": [run]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(ResultsError, match=r"trials.jsonl, line 2: not a trial"):
        read_trials(path, space)
    lines[1] = {**lines[0], "params": {**good, "core_size": 48}}  # not a choice
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(ResultsError, match="line 2"):
        read_trials(path, space)
    path.write_text(json.dumps(lines[0]) + "\n")
    assert read_trials(path, space, 256, [0]) == [lines[0]]
    with pytest.raises(ResultsError, match=r"line 1: a trial made with budget 256, not 512"):
        read_trials(path, space, 512, [0])  # scores of another budget are not comparable
    with pytest.raises(ResultsError, match="use the same settings to resume"):
        read_trials(path, space, 256, [0, 1])
    assert read_trials(path, space, 256, [0], "cuda") == [lines[0]]  # no device recorded
    path.write_text(json.dumps({**lines[0], "runs": [{**run, "device": "cpu"}]}) + "\n")
    assert len(read_trials(path, space, 256, [0], "cpu")) == 1
    with pytest.raises(ResultsError, match=r"line 1: a trial made with device 'cpu', not 'cuda'"):
        read_trials(path, space, 256, [0], "cuda")  # another device rounds otherwise


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tune", "lstm"], "--tune needs --rung"),
        (["--tune", "lstm", "--rung", "3"], "--rung must be a value of the task's ladder"),
        (["--tune", "ppo", "--rung", "2"], "needs a MemoryPPO agent"),
        (["--tune", "gru", "--rung", "2"], "must name an agent of the suite"),
        (["--tune", "lstm", "--rung", "2", "--task", "TMaze"], "--task must name one of"),
        (["--tune", "lstm", "--rung", "2", "--trials", "0"], "trials must be an integer >= 1"),
        (["--tune", "lstm", "--rung", "2", "--tune-seeds", "0,x"], "--tune-seeds must be"),
        (["--tune", "lstm", "--rung", "2", "--tune-budget", "0"], "--tune-budget must be >= 1"),
        (["--tune", "lstm", "--rung", "2", "--tune-seeds", "0,0"], "seeds must not repeat"),
        (["--tune", "lstm", "--rung", "2", "--tune-seeds", "10001"], "evaluation episodes"),
        (["--rung", "2"], "--rung and --task go with --tune"),
        (["--address", "nohost"], "is not a Ray cluster address"),
        (["--address", "127.0.0.1:6379", "--engine", "process"], "--address needs --engine ray"),
        (["--engine", "ray", "--jobs", "0"], "--jobs must be an integer in [1, 1024], got 0"),
        (["--engine", "spark"], "invalid choice"),
    ],
)
def test_bad_engine_and_tune_options_exit_2_before_training(tmp_path, capsys, args, message):
    argv = ["--suite", str(_suite(tmp_path)), "--out", str(tmp_path / "out"), *args]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--no-progress", "--no-plots"])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_tune_validates_the_suite_it_is_given(tmp_path):
    pytest.importorskip("optuna")
    from agents.suite import load_suite
    from agents.sweep import tune

    suite = {**load_suite(str(_suite(tmp_path))), "seeds": []}  # was a ZeroDivisionError
    with pytest.raises(ValueError, match="seeds must be a non-empty list"):
        tune(suite, tmp_path / "out", "lstm", "2", trials=1, jobs=1)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("blocker", ["out", "out/tune-tiny-lstm-DelayedRecall-delay2"])
def test_tune_with_an_out_that_is_a_file_exits_2_naming_out(tmp_path, capsys, blocker):
    pytest.importorskip("optuna")
    (tmp_path / blocker).parent.mkdir(exist_ok=True)
    (tmp_path / blocker).write_text("a file")
    argv = ["--suite", str(_suite(tmp_path)), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--tune", "lstm", "--rung", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert f"--out: {tmp_path / blocker} " in err and "another --out" in err


@pytest.mark.slow
@pytest.mark.ci
def test_tune_writes_trials_and_a_report_and_a_rerun_resumes(tmp_path, capsys):
    pytest.importorskip("optuna")
    argv = ["--suite", str(_suite(tmp_path, budget=256)), "--out", str(tmp_path / "out")]
    argv += ["--tune", "lstm", "--rung", "2", "--tune-seeds", "0", "--no-progress"]
    main([*argv, "--trials", "2"])
    folder = tmp_path / "out" / "tune-tiny-lstm-DelayedRecall-delay2"
    first = (folder / "trials.jsonl").read_text().splitlines()
    assert len(first) == 2
    trials = [json.loads(line) for line in first]
    for t in trials:
        (run,) = t["runs"]
        assert run["seed"] == 0 and run["budget"] == 256
        assert run["hyperparameters"]["core_kwargs"]["hidden_size"] == t["params"]["core_size"]
        assert (
            run["tensorboard"]
            == f"runs/tune-tiny-lstm-DelayedRecall-delay2/trial{t['trial']}/seed0"
        )
    readme = (folder / "README.md").read_text()
    assert "| learning_rate | log-uniform | 0.0001, 0.003 |" in readme and "Best trial" in readme
    main([*argv, "--trials", "3"])  # resumes: the two trials are kept, one more is run
    lines = (folder / "trials.jsonl").read_text().splitlines()
    assert lines[:2] == first and len(lines) == 3
    assert json.loads(lines[2])["trial"] == 2
    assert "3 trials, best first" in capsys.readouterr().out


def test_a_tune_whose_trials_fail_exits_1_after_its_report(tmp_path, capsys, monkeypatch):
    """Every trial failing used to end the search with exit status 0."""
    pytest.importorskip("optuna")
    import contextlib

    from agents import benchmark

    @contextlib.contextmanager
    def engine_losing_every_run(*args, **kwargs):
        yield lambda todo: iter(())  # each run failed (nothing comes back)

    monkeypatch.setattr(benchmark, "trial_engine", engine_losing_every_run)
    argv = ["--suite", str(_suite(tmp_path)), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--tune", "lstm", "--rung", "2", "--trials", "2", "--no-progress"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 1 and "trial(s) failed" in err
    assert "# Hyperparameter search" in out


def _fake_record(run: dict) -> dict:
    """The record train_one writes for ``run``, without training (success 0.5)."""
    from agents.benchmark import RECORDED, hyperparameters

    keys = ("suite", "agent", "env", "knob", "value", "env_kwargs", "seed", *RECORDED)
    evals = [
        {"env_kwargs": {**run["env_kwargs"], **extra}, "success_rate": 0.5, "mean_return": 0.5}
        for extra in run["eval"]
    ]
    return {
        **{k: run[k] for k in keys},
        "hyperparameters": hyperparameters(run),
        "success_rate": 0.5,
        "mean_return": 0.5,
        "evals": evals,
        "steps_to_95": None,
        "steps_trained": run["budget"],
        "wall_time_s": 0.0,
        "curve": [],
        "curriculum": None,
        "device": run["device"],
        "tensorboard": str(Path(run["tb_dir"], f"seed{run['seed']}")),
    }


@pytest.fixture
def no_training(monkeypatch):
    """Trials come back at once, as records of what would have been trained."""
    pytest.importorskip("optuna")
    import contextlib

    from agents import benchmark

    @contextlib.contextmanager
    def engine(*args, **kwargs):
        yield lambda todo: map(_fake_record, todo)

    monkeypatch.setattr(benchmark, "trial_engine", engine)


def _tune(tmp_path: Path, trials: int, **changes) -> list[dict]:
    from agents.suite import validate_suite
    from agents.sweep import tune

    suite = validate_suite({**TINY, "name": "tiny", "seeds": [0], **changes})
    return tune(suite, tmp_path / "out", "lstm", "2", trials=trials, jobs=1)[1]


def test_a_search_resumed_trial_by_trial_draws_new_parameters(tmp_path, no_training):
    """Each call used to make a TPESampler(seed=0), so its start-up (random) draws began
    again: trial 1 of a search run one trial per call had trial 0's parameters."""
    for n in range(1, 5):  # start-up: min(10, max(2, n // 2)) >= 2 random trials
        trials = _tune(tmp_path / "steps", n)
    params = [json.dumps(t["params"], sort_keys=True) for t in trials]
    assert len(params) == 4 and len(set(params)) == 4, params
    # a fresh search is reproducible, and its first trial is the stepwise search's
    once = [t["params"] for t in _tune(tmp_path / "once", 3)]
    assert once == [t["params"] for t in _tune(tmp_path / "again", 3)]
    assert once[0] == trials[0]["params"]


TWO_KNOBS = [  # two tasks on one env, each varying another knob
    {"env": "memenvs/DelayedRecall-v0", "knob": "delay", "ladder": [2], "fixed": {}},
    {"env": "memenvs/DelayedRecall-v0", "knob": "num_symbols", "ladder": [3], "fixed": {}},
]


@pytest.mark.parametrize(
    "task", ["DelayedRecall:num_symbols", "memenvs/DelayedRecall-v0:num_symbols", "1"]
)
def test_tune_picks_one_of_two_tasks_on_one_env_by_knob_or_index(tmp_path, no_training, task):
    """--task matched the env only, so neither of two tasks on one env could be tuned."""
    from agents.suite import validate_suite
    from agents.sweep import tune

    suite = validate_suite({**TINY, "name": "tiny", "seeds": [0], "tasks": TWO_KNOBS})
    out_dir, trials, _ = tune(suite, tmp_path, "lstm", "3", trials=1, jobs=1, task=task)
    assert out_dir.name == "tune-tiny-lstm-DelayedRecall-num_symbols3"
    assert trials[0]["runs"][0]["env_kwargs"] == {"num_symbols": 3}


def test_an_ambiguous_task_is_refused_naming_each_task_by_knob_and_index(tmp_path, capsys):
    argv = ["--suite", str(_suite(tmp_path, tasks=TWO_KNOBS)), "--out", str(tmp_path / "out")]
    for task, why in [("DelayedRecall", "'DelayedRecall' matches 2 of them"), (None, "has 2")]:
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--tune", "lstm", "--rung", "2", *(["--task", task] if task else [])])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and why in err
        assert "(0: DelayedRecall:delay, 1: DelayedRecall:num_symbols) by name, env id" in err
    assert not (tmp_path / "out").exists()


TASK = TINY["tasks"][0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"tasks": [{**TASK, "fixed": {"num_symbols": 8}}]},
            "env_kwargs {'delay': 2}, not {'num_symbols': 8, 'delay': 2}",
        ),
        ({"n_envs": 4}, "n_envs 2, not 4"),
        ({"eval_episodes": 8}, "eval_episodes 4, not 8"),
        ({"hyperparameters": {**TINY["hyperparameters"], "gamma": 0.9}}, "gamma unset, not 0.9"),
        ({"hyperparameters": {**TINY["hyperparameters"], "n_steps": 64}}, "n_steps "),
        ({"tasks": [{**TASK, "eval": [{}, {"delay": 3}]}]}, "eval [{'delay': 2}], not"),
    ],
    ids=["fixed", "n_envs", "eval_episodes", "untuned-hp", "base-rollout", "evals"],
)
def test_a_resume_with_other_settings_is_refused_naming_them(
    tmp_path, no_training, changes, message
):
    """Trials recorded with other fixed knobs, n_envs, ... were resumed and ranked in one
    table with the new ones (only budget, seeds and device were compared)."""
    from agents.results import ResultsError

    _tune(tmp_path, 1)
    with pytest.raises(ResultsError) as err:
        _tune(tmp_path, 2, **changes)
    assert "trials.jsonl, line 1: trial 0 (seed 0) made with " in str(err.value)
    assert message in str(err.value) and "use the same settings to resume" in str(err.value)


def test_tune_refuses_to_resume_a_search_of_another_fixed_knob_and_n_envs(
    tmp_path, capsys, no_training
):
    """The review's case: only `fixed` and n_envs differ, the folder is the same. What the
    search sets (the suite's learning rate, entropy, core width) may change."""
    from agents.sweep import read_trials, search_space

    argv = ["--out", str(tmp_path / "out"), "--tune", "lstm", "--rung", "2", "--no-progress"]
    main(["--suite", str(_suite(tmp_path, seeds=[0])), *argv, "--trials", "1"])
    hp = {**TINY["hyperparameters"], "learning_rate": 5e-4, "ent_coef": 0.3}
    tuned = _suite(tmp_path, seeds=[0], hyperparameters=hp, agent_overrides={})
    main(["--suite", str(tuned), *argv, "--trials", "2"])
    trials = tmp_path / "out" / "tune-tiny-lstm-DelayedRecall-delay2" / "trials.jsonl"
    first = trials.read_text()
    fixed = [{**TASK, "fixed": {"num_symbols": 8}}]
    other = _suite(tmp_path, seeds=[0], n_envs=4, tasks=fixed)
    with pytest.raises(SystemExit) as exit_:
        main(["--suite", str(other), *argv, "--trials", "2"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert "env_kwargs {'delay': 2}, not {'num_symbols': 8, 'delay': 2}" in err
    assert "n_envs 2, not 4" in err
    assert trials.read_text() == first
    assert len(read_trials(trials, search_space("lstm"))) == 2


def test_a_trial_whose_seeds_finished_out_of_order_resumes(tmp_path, monkeypatch):
    """Runs were recorded as they finished and read back compared with the suite's seed
    order, so a search with several seeds run in parallel could be refused on resume
    ("seeds [1, 0], not [0, 1]")."""
    pytest.importorskip("optuna")
    import contextlib

    from agents import benchmark

    @contextlib.contextmanager
    def last_seed_first(*args, **kwargs):
        yield lambda todo: map(_fake_record, reversed(todo))

    monkeypatch.setattr(benchmark, "trial_engine", last_seed_first)
    _tune(tmp_path, 1, seeds=[0, 1])
    trials = _tune(tmp_path, 2, seeds=[0, 1])
    assert [[r["seed"] for r in t["runs"]] for t in trials] == [[0, 1], [0, 1]]


def test_bench_sweep_start_times_both_engines(tmp_path, load_script):
    """The README's "a local Ray start costs about N s" comes from this script."""
    pytest.importorskip("ray")
    script = load_script("bench_sweep_start")
    out, js = tmp_path / "start.md", tmp_path / "start.json"
    assert script.main(["--repeats", "1", "--out", str(out), "--json", str(js)]) == 0
    seconds = json.loads(js.read_text())["seconds"]
    assert set(seconds) == {"process", "ray"}
    assert all(len(ts) == 1 and 0 < ts[0] < 120 for ts in seconds.values())
    assert "| ray |" in out.read_text() and "Command: `python scripts/bench_sweep_start.py" in (
        out.read_text()
    )
    with pytest.raises(SystemExit):
        script.main(["--repeats", "0"])

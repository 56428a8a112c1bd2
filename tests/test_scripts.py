"""Smoke tests of the training scripts through a subprocess (CleanRL style)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_train_then_enjoy_from_the_run_folder_alone(tmp_path):
    proc = run(
        str(ROOT / "scripts" / "train.py"),
        *("--agent", "ntm", "--env", "memenvs/DelayedRecall-v0", "--env-kwargs", '{"delay": 2}'),
        *("--core-kwargs", '{"memory_slots": 8, "memory_width": 4}', "--steps", "256"),
        *("--n-envs", "4", "--n-steps", "16", "--eval-episodes", "8"),
        *("--log-dir", str(tmp_path / "runs"), "--no-progress-bar"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0.0 <= result["success_rate"] <= 1.0 and result["episodes"] == 8
    run_dir = Path(result["run_dir"])
    assert "__delay2__ntm__seed0__" in run_dir.name
    assert Path(result["model"]).exists() and list(run_dir.glob("events.out.tfevents.*"))
    proc = run(
        str(ROOT / "scripts" / "enjoy.py"),
        str(run_dir),
        "--png",
        str(tmp_path / "heat.png"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "query: which symbol was the cue?" in proc.stdout
    assert "read_weights (head 0):" in proc.stdout and "write_weights (head 0):" in proc.stdout
    assert (tmp_path / "heat_read_weights.png").exists()


@pytest.mark.parametrize("agent", ["lstm", "ppo", "recurrent-ppo", "stochastic-ntm"])
def test_train_any_agent_on_a_foreign_env(tmp_path, agent):
    """Any Gymnasium id works, including one memenvs did not register (CartPole)."""
    proc = run(
        str(ROOT / "scripts" / "train.py"),
        "--agent",
        agent,
        "--env",
        "gymnasium:CartPole-v1",
        "--steps",
        "64",
        "--n-envs",
        "2",
        "--n-steps",
        "16",
        "--eval-episodes",
        "2",
        "--logdir",
        str(tmp_path / "runs"),
        "--no-progress-bar",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["agent"] == agent


def test_train_rejects_bad_arguments(tmp_path):
    proc = run(str(ROOT / "scripts" / "train.py"), "--agent", "transformer", cwd=tmp_path)
    assert proc.returncode == 2
    assert "argument --agent: agent must be one of ['lstm'" in proc.stderr
    assert "got 'transformer'" in proc.stderr
    proc = run(str(ROOT / "scripts" / "train.py"), "--device", "cuda", "--steps", "8", cwd=tmp_path)
    if proc.returncode != 0:  # on a machine without a GPU: a clear message, not a silent CPU run
        assert "no CUDA GPU" in proc.stderr


def test_probe_solved_update_writes_one_row_per_run_with_every_variant(tmp_path):
    out = tmp_path / "probe.md"
    proc = run(
        str(ROOT / "scripts" / "probe_solved_update.py"),
        "--agents",
        "lstm",
        "--seeds",
        "0",
        "--env-kwargs",
        '{"length": 2, "active": false}',
        "--n-steps",
        "8",
        "--n-envs",
        "4",
        "--hidden",
        "8",
        "--budget",
        "4000",  # solved at 1,644 (the stop rule needs 100 episodes)
        "--episodes",
        "8",
        "--reps",
        "1",
        "--out",
        str(out),
        "--json",
        str(tmp_path / "probe.json"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads((tmp_path / "probe.json").read_text())["records"]
    assert record["solved"] and 0 <= record["before"] <= 1 and record["solved_at"] <= 4000
    assert len(record["after"]) == 5
    assert all(len(v) == 1 and 0 <= v[0] <= 1 for v in record["after"].values())
    assert "| lstm | 0 |" in out.read_text()


def test_bench_train_writes_report_and_json(tmp_path):
    out, js = tmp_path / "train.md", tmp_path / "train.json"
    proc = run(
        str(ROOT / "scripts" / "bench_train.py"),
        *("--agents", "ppo", "lstm", "--n-envs", "2", "--n-steps", "16", "--batch-size", "32"),
        *("--n-epochs", "1", "--steps", "64", "--out", str(out), "--json", str(js)),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(js.read_text())["results"]
    assert {r["agent"] for r in results} == {"ppo", "lstm"}
    assert all(r["fps"] > 0 and r["trained_steps"] >= 64 for r in results)
    assert "| lstm |" in out.read_text()
    for r in results:  # 64 steps at 2 envs x 16: two timed rollouts, each collected and updated
        assert r["rollouts"] == 2 and r["collect_s"] > 0 and r["update_s"] > 0
        assert r["collect_s"] + r["update_s"] <= r["trained_steps"] / r["fps"] / r["rollouts"]
    assert "collect / update s (2 envs, 1 thr)" in out.read_text()


def test_bench_train_refuses_a_bad_device_as_a_usage_error(load_script, capsys):
    bench = load_script("bench_train")
    with pytest.raises(SystemExit) as exc:
        bench.main(["--agents", "ppo", "--device", "foo"])
    assert exc.value.code == 2 and "--device: device must be 'cpu'" in capsys.readouterr().err


def test_bench_train_phase_table_gives_median_seconds_per_rollout(load_script):
    bench = load_script("bench_train")
    rows = [
        {"agent": a, "n_envs": 64, "threads": 1, "fps": f, "peak_rss_mb": 1, "repeat": k,
         "collect_s": c, "update_s": u}
        for a, k, f, c, u in [("ppo", 0, 100.0, 0.06, 0.15), ("ntm", 0, 10.0, 0.2, 1.7),
                              ("ppo", 1, 100.0, 0.08, 0.17), ("ntm", 1, 10.0, 0.3, 1.9)]
    ]  # fmt: skip
    table = bench.phase_table([*rows, {"agent": "gru", "n_envs": 64, "threads": 1}], [1], [64])
    assert "| ntm | 0.250 / 1.800 |" in table
    assert "| ppo | 0.070 / 0.160 |" in table
    assert "| gru | - |" in table  # failed or measured before phases were timed


def run_script_json(
    script: str, *args: str, tmp_path: Path, cwd: Path = ROOT
) -> tuple[str, dict | list]:
    """Run ``scripts/<script> *args --json FILE`` in ``cwd``; its stdout and the JSON."""
    js = tmp_path / "out.json"
    proc = run(str(ROOT / "scripts" / script), *args, "--json", str(js), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(js.read_text())


def test_bench_train_minibatches_scale_with_envs_and_fps_counts_whole_rollouts(tmp_path):
    stdout, data = run_script_json(
        "bench_train.py",
        *("--agents", "ppo", "lstm", "--n-envs", "2", "4", "--n-steps", "16"),
        *("--minibatches", "2", "--n-epochs", "1", "--steps", "8", "--threads", "1"),
        tmp_path=tmp_path,
    )
    results = data["results"]
    assert sorted((r["agent"], r["n_envs"], r["batch_size"]) for r in results) == [
        ("lstm", 2, 16), ("lstm", 4, 32), ("ppo", 2, 16), ("ppo", 4, 32),
    ]  # fmt: skip
    # --steps 8 is less than one rollout: fps counts the whole rollout that was trained
    assert all(r["trained_steps"] == 16 * r["n_envs"] for r in results)
    assert "| lstm | " in stdout and "fps (4 envs, 1 thr)" in stdout


def test_bench_train_table_reads_large_peak_memory(load_script):
    bench = load_script("bench_train")
    rows = [
        {"agent": a, "n_envs": n, "threads": 1, "fps": f, "peak_rss_mb": m}
        for a, n, f, m in [("ppo", 8, 100.0, 300), ("ppo", 64, 200.0, 310),
                           ("ntm", 8, 10.0, 1500), ("ntm", 64, 50.0, 2617)]
    ]  # fmt: skip
    table = bench.fps_table(rows, [1], [8, 64])
    assert "| ntm | 10 | 0.10x | 50 | 0.25x | 2,617 |" in table


def test_bench_train_repeats_give_median_fps_and_median_ratio_of_same_round(load_script):
    """The ratio pairs each run with MLP PPO's run of the same round: PPO at 100 then 200 and
    the NTM at 30 then 40 give ratios 0.30 and 0.20, median 0.25 (not 35 / 150 = 0.23)."""
    bench = load_script("bench_train")
    rows = [
        {"agent": a, "n_envs": 64, "threads": 1, "fps": f, "peak_rss_mb": m, "repeat": k}
        for a, k, f, m in [("ppo", 0, 100.0, 300), ("ntm", 0, 30.0, 600),
                           ("ppo", 1, 200.0, 310), ("ntm", 1, 40.0, 700)]
    ]  # fmt: skip
    table = bench.fps_table(rows, [1], [64])
    assert "| ntm | 35 | 0.25x (0.20-0.30) | 700 |" in table
    assert "| ppo | 150 | 1.00x (1.00-1.00) | 310 |" in table
    (ntm,) = [r for r in bench.combine_repeats(rows) if r["agent"] == "ntm"]
    assert ntm["fps_runs"] == [30.0, 40.0]


def test_bench_train_refuses_minibatches_that_do_not_divide_the_rollout():
    proc = run(
        str(ROOT / "scripts" / "bench_train.py"),
        *("--agents", "ppo", "--n-envs", "3", "--n-steps", "16", "--minibatches", "5"),
        cwd=ROOT,
    )
    assert proc.returncode != 0 and "--minibatches must divide" in proc.stderr


@pytest.mark.parametrize(
    "args,match",
    [(["--rounds", "0"], "--rounds must be >= 1"), (["--batch", "64", "0"], "--batch sizes")],
)
def test_bench_ntm_kernel_refuses_bad_arguments(load_script, capsys, args, match):
    bench = load_script("bench_ntm_kernel")
    with pytest.raises(SystemExit):
        bench.main(["--base", "HEAD", *args])
    assert match in capsys.readouterr().err


def test_bench_rnn_sequence_reports_both_and_their_agreement(load_script, tmp_path):
    bench = load_script("bench_rnn_sequence")
    js = tmp_path / "r.json"
    args = ["--batch", "3", "--steps", "20", "--hidden", "8", "--rounds", "1"]
    bench.main([*args, "--json", str(js)])
    results = json.loads(js.read_text())["results"]
    assert [(r["core"], r["batch"]) for r in results] == [("lstm", 3), ("gru", 3)]
    for r in results:
        assert set(r["ms_best"]) == {"torch", "fused"}
        assert r["max_diff"] < 1e-5  # the two agree to float32 rounding


def test_bench_rnn_sequence_refuses_bad_arguments(load_script, capsys):
    bench = load_script("bench_rnn_sequence")
    with pytest.raises(SystemExit):
        bench.main(["--batch", "0"])
    assert "--batch sizes" in capsys.readouterr().err


SOLVED_COPY = (
    ROOT / "benchmarks/results/ntm-copy-rl-cpu/probe/checkpoints"
    / "stochastic-ntm-seq-n32-ig95-ro-c16-st-stay5-lr3e-4-g0-s1-solved"
)  # fmt: skip


def test_diagnose_rl_copy_sees_a_solved_read_head_on_its_symbols_slots(load_script):
    """The sampled-read NTM that solved RL Copy (a committed checkpoint) holds slot 0 through
    the input and reads, at every output position of length 5, the slot its symbol was
    written to (200 episodes measured: all of them; one of its 32 slots at random would be
    right 1 time in 32) and then names the symbol (a memoryless policy: 1 in 8)."""
    from agents.checkpoint import load_checkpoint

    diagnose = load_script("diagnose_rl_copy")
    result = diagnose.play(load_checkpoint(str(SOLVED_COPY)), 5, 8, 10, seed=1000)
    assert result["read_on_first_slot_by_input_step"] == [1.0] * 6  # holds slot 0 until then
    assert result["read_slot_right_by_position"] == [1.0] * 5
    right, steps = result["action_right_when_slot_right"]
    assert steps == 50 and right >= 48
    assert result["read_minus_written_slot"] == {"0": 50}


@pytest.mark.parametrize(
    "args,match",
    [(["--episodes", "0"], "--episodes must be >= 1"), (["--lengths", "0"], "--lengths")],
)
def test_diagnose_rl_copy_refuses_bad_arguments(load_script, capsys, args, match):
    diagnose = load_script("diagnose_rl_copy")
    with pytest.raises(SystemExit):
        diagnose.main(["--checkpoint", str(SOLVED_COPY), *args])
    assert match in capsys.readouterr().err


def test_diagnose_rl_copy_needs_a_probe_checkpoint(load_script, capsys, tmp_path):
    diagnose = load_script("diagnose_rl_copy")
    with pytest.raises(SystemExit):
        diagnose.main(["--checkpoint", str(tmp_path)])
    assert "has no probe.json" in capsys.readouterr().err


def test_benchmarks_record_which_kernel_build_ran():
    """Results name the fused kernel's build (AVX2 + FMA or generic) once it is loaded."""
    from agents import fused_step
    from agents.benchutil import kernel_isa

    assert kernel_isa() == fused_step.load().kernel_isa() in ("avx2+fma", "generic")


@pytest.mark.slow
@pytest.mark.ci
def test_chrono_init_lets_an_lstm_carry_a_cue_64_steps(tmp_path):
    """Supervised DelayedRecall, delay 64 (chance and memoryless accuracy 0.25): the
    chrono-initialised LSTM reaches 95% within 600 Adam steps (325 measured); the same LSTM
    with zero gate biases stays near chance over those 600 steps."""
    js = tmp_path / "sup.json"
    proc = run(
        str(ROOT / "scripts" / "probe_supervised_recall.py"),
        *("--cores", "lstm", "lstm-chrono", "--delays", "64", "--steps", "600"),
        *("--json", str(js)),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    plain, chrono = json.loads(js.read_text())["results"]
    assert chrono["steps_to_95"] is not None and chrono["accuracy"] >= 0.95
    assert plain["steps_to_95"] is None and plain["accuracy"] < 0.5


def test_probe_supervised_copy_reports_the_bigger_memory_and_the_lr_drop(tmp_path):
    out, rec = tmp_path / "copy.md", tmp_path / "copy.json"
    proc = run(
        str(ROOT / "scripts" / "probe_supervised_copy.py"),
        *("--sequences", "64", "--batch", "16", "--eval-every", "32", "--eval-batch", "4"),
        *("--eval-sizes", "3", "12", "--eval-slots", "16", "--solved-lr", "1e-4"),
        *("--core-kwargs", '{"memory_slots": 8, "controller_size": 8}'),
        *("--out", str(out), "--json", str(rec)),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(rec.read_text())
    assert record["sequences"] == 64 and len(record["curve"]) == 2
    assert set(record["final_bits_wrong_eval_slots"]) == {"3", "12"}
    assert "| with 16 slots |" in out.read_text() and record["solved_lr"] == 1e-4
    bad = run(str(ROOT / "scripts" / "probe_supervised_copy.py"), "--solved-lr", "-1", cwd=tmp_path)
    assert bad.returncode != 0 and "--solved-lr" in bad.stderr


@pytest.mark.parametrize(
    "script, args, named",
    [
        # each ran before: 0 sequences or steps and an empty report with exit 0, or a
        # traceback only after the whole training run
        ("probe_supervised_copy.py", ("--seconds", "0"), "--seconds must be > 0"),
        ("probe_supervised_copy.py", ("--eval-sizes", "-3"), "--eval-sizes must be >= 1"),
        (
            "probe_supervised_copy.py",
            ("--task", "associative-recall", "--eval-sizes", "0", "3"),
            "--eval-sizes must be >= 2 for associative-recall, got [0]",
        ),
        ("probe_supervised_recall.py", ("--steps", "0"), "--steps must be >= 1"),
        ("probe_supervised_recall.py", ("--seconds", "-1"), "--seconds must be > 0"),
        ("probe_supervised_recall.py", ("--seeds", "0", "-1"), "--seeds must be in [0, "),
    ],
)
def test_supervised_probes_refuse_degenerate_limits_before_training(tmp_path, script, args, named):
    proc = run(str(ROOT / "scripts" / script), *args, cwd=tmp_path)
    assert proc.returncode != 0 and named in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_probe_episodic_frontier_runs_a_recurrent_baseline(tmp_path):
    rec = tmp_path / "frontier.json"
    proc = run(
        str(ROOT / "scripts" / "probe_episodic_frontier.py"),
        *("--agent", "gru", "--core-kwargs", '{"chrono_max": 8}', "--hyper", '{"n_steps": 32}'),
        *("--ladder", "2", "--eval", "2", "4", "--budget", "256", "--n-envs", "2"),
        *("--eval-episodes", "4", "--json", str(rec)),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (record,) = json.loads(rec.read_text())["results"]
    assert record["agent"] == "gru" and record["hyperparameters"]["n_steps"] == 32
    assert "max_memory" not in record["core_kwargs"] and set(record["eval"]) == {"2", "4"}


@pytest.mark.parametrize(
    "mode", [(), ("--read-mode", "sample", "--fused"), ("--fused", "--start-prob", "0.3")]
)
def test_profile_ntm_counts_ops_and_memory_passes(mode, tmp_path):
    stdout, data = run_script_json(
        "profile_ntm.py", "--batch", "4", "--steps", "6", *mode, tmp_path=tmp_path
    )
    (record,) = data["results"]
    assert record["ms_per_step_best"] > 0 and record["forward_ops"] > 10
    assert record["read_mode"] == ("sample" if "sample" in mode else "soft")
    assert record["fused"] == bool(mode)
    assert record["start_prob"] == (0.3 if "--start-prob" in mode else None)
    # the step reads and writes memory: some ops return a whole [B, N, M] memory
    assert record["forward_memory_ops"] >= 1 and record["backward_memory_ops"] >= 1
    assert "| 4 |" in stdout


def test_profile_ntm_rejects_a_start_probability_outside_0_1(tmp_path):
    proc = run(str(ROOT / "scripts" / "profile_ntm.py"), "--start-prob", "1.5", cwd=tmp_path)
    assert proc.returncode == 2 and "--start-prob must be in [0, 1], got 1.5" in proc.stderr


def test_probe_rl_copy_trains_a_ladder_and_evaluates_with_a_bigger_memory(tmp_path):
    _, record = run_script_json(
        "probe_rl_copy.py",
        *("--agent", "ntm", "--core-kwargs", '{"memory_slots": 8, "controller_size": 8}'),
        *("--ladder", "2", "3", "--advance", "0.0", "--budget", "512", "--n-envs", "4"),
        *("--hyper", '{"n_steps": 32, "batch_size": 64}', "--eval", "2", "12"),
        *("--eval-slots", "16", "--eval-episodes", "4"),
        tmp_path=tmp_path,
        cwd=tmp_path,
    )
    assert [r[0] for r in record["curriculum"]] == [2, 3]  # --advance 0 moves on at once
    assert record["steps_trained"] <= 512 + 4 * 32 and set(record["eval"]) == {"2", "12"}
    assert all(0.0 <= e["mean_return"] <= 1.0 for e in record["eval"].values())
    assert record["eval_memory_slots"] == 16 and record["hyperparameters"]["batch_size"] == 64


def test_probe_rl_copy_resumes_from_its_checkpoint_as_one_uninterrupted_run(tmp_path):
    common = ("--agent", "lstm", "--core-kwargs", '{"hidden_size": 8}', "--ladder", "2")
    common += ("--n-envs", "4", "--hyper", '{"n_steps": 32, "batch_size": 64}', "--eval", "2")
    common += ("--eval-episodes", "4")
    _, straight = run_script_json(
        "probe_rl_copy.py", *common, "--budget", "512", tmp_path=tmp_path / "a"
    )
    folder = str(tmp_path / "ckpt")
    _, first = run_script_json(
        "probe_rl_copy.py", *common, "--budget", "256", "--checkpoint", folder,
        tmp_path=tmp_path / "b",
    )  # fmt: skip
    assert first["steps_trained"] == 256 and first["resumed_at_steps"] == 0
    stdout, second = run_script_json(
        "probe_rl_copy.py", *common, "--budget", "512", "--checkpoint", folder,
        tmp_path=tmp_path / "c",
    )  # fmt: skip
    assert '"resumed"' in stdout and second["resumed_at_steps"] == 256
    assert second["steps_trained"] == straight["steps_trained"] == 512
    # the training curve of the split run is the uninterrupted run's, entry for entry
    key = [(e["steps"], e["mean_return"], e["success"]) for e in straight["log"]]
    assert len(key) == 4 and key == [
        (e["steps"], e["mean_return"], e["success"]) for e in second["log"]
    ]
    assert second["eval"] == straight["eval"]
    # another run's settings in the same folder: refused, naming the setting
    proc = run(
        str(ROOT / "scripts" / "probe_rl_copy.py"), *common, "--seed", "3", "--budget", "600",
        "--checkpoint", folder, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode != 0 and "seed: 0 saved, 3 now" in proc.stderr


def test_probe_rl_copy_continues_a_checkpoint_up_a_longer_ladder(tmp_path):
    common = ("--agent", "lstm", "--core-kwargs", '{"hidden_size": 8}', "--n-envs", "4")
    common += ("--hyper", '{"n_steps": 32, "batch_size": 64}', "--eval", "2")
    common += ("--eval-episodes", "4", "--advance", "0.0")
    folder = tmp_path / "ckpt"
    ckpt = ("--checkpoint", str(folder))
    _, first = run_script_json(
        "probe_rl_copy.py", *common, "--ladder", "2", "--budget", "256", *ckpt,
        tmp_path=tmp_path / "a",
    )  # fmt: skip
    assert [r[0] for r in first["curriculum"]] == [2]  # the last rung needs 99%: not solved
    # unsolved: the saved rung goes on, now under --advance (0: met after 100 episodes), then 3
    _, second = run_script_json(
        "probe_rl_copy.py", *common, "--ladder", "2", "3", "--budget", "1024", *ckpt,
        tmp_path=tmp_path / "b",
    )  # fmt: skip
    assert [r[0] for r in second["curriculum"]] == [2, 3] and second["steps_trained"] >= 1024
    # solved: a longer ladder starts at its next rung (the saved state marked solved here)
    saved = json.loads((folder / "probe.json").read_text())
    (folder / "probe.json").write_text(json.dumps({**saved, "solved": True}))
    _, third = run_script_json(
        "probe_rl_copy.py", *common, "--ladder", "2", "3", "4", "--budget", "1280", *ckpt,
        tmp_path=tmp_path / "c",
    )  # fmt: skip
    steps = [r[1] for r in third["curriculum"]]
    assert [r[0] for r in third["curriculum"]] == [2, 3, 4] and steps[2] == saved["steps"]
    assert {e["max_length"] for e in third["log"] if e["steps"] > saved["steps"]} == {4}
    # a ladder that does not start with the saved one is another run
    proc = run(
        str(ROOT / "scripts" / "probe_rl_copy.py"), *common, "--ladder", "3", "4",
        "--budget", "1000", *ckpt, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode != 0 and "ladder: [2, 3, 4] saved, [3, 4] now" in proc.stderr


def test_probe_rl_copy_saves_and_exits_on_sigterm(tmp_path):
    folder = tmp_path / "ckpt"
    proc = subprocess.Popen(
        [
            sys.executable, str(ROOT / "scripts" / "probe_rl_copy.py"), "--agent", "lstm",
            "--core-kwargs", '{"hidden_size": 8}', "--ladder", "2", "--n-envs", "4",
            "--hyper", '{"n_steps": 32, "batch_size": 64}', "--budget", "100000000",
            "--print-every", "1", "--checkpoint", str(folder),
        ],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        while '"mean_return"' not in proc.stdout.readline():  # a rollout is logged
            assert proc.poll() is None
        proc.terminate()
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143 and '"terminated"' in out
    saved = json.loads((folder / "probe.json").read_text())
    assert saved["steps"] > 0 and saved["log"] and (folder / "model.zip").is_file()


def test_probe_rl_copy_retunes_the_optimisation_of_a_resumed_run(tmp_path):
    common = ("--agent", "lstm", "--core-kwargs", '{"hidden_size": 8}', "--ladder", "2")
    common += ("--n-envs", "4", "--eval", "2", "--eval-episodes", "4")
    folder = str(tmp_path / "ckpt")
    hyper = {"n_steps": 32, "batch_size": 64}
    run_script_json(
        "probe_rl_copy.py", *common, "--hyper", json.dumps(hyper), "--budget", "256",
        "--checkpoint", folder, tmp_path=tmp_path / "a",
    )  # fmt: skip
    lower = json.dumps({**hyper, "learning_rate": 1e-4, "clip_range": 0.1})
    # without --retune another learning rate is another run: refused
    proc = run(
        str(ROOT / "scripts" / "probe_rl_copy.py"), *common, "--hyper", lower, "--budget", "512",
        "--checkpoint", folder, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode != 0 and "hyper:" in proc.stderr
    # a setting outside RETUNABLE stays fixed under --retune too; the error shows what was
    # saved (the old learning rate) and what is asked now
    other = json.dumps({**hyper, "batch_size": 32, "learning_rate": 1e-4})
    proc = run(
        str(ROOT / "scripts" / "probe_rl_copy.py"), *common, "--hyper", other, "--budget", "512",
        "--checkpoint", folder, "--retune", cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode != 0 and "'batch_size': 32" in proc.stderr
    saved_text, now_text = proc.stderr.split(" saved, ")
    assert "'learning_rate': 0.001," in saved_text and "'learning_rate': 0.0001," in now_text
    stdout, record = run_script_json(
        "probe_rl_copy.py", *common, "--hyper", lower, "--budget", "512", "--checkpoint", folder,
        "--retune", tmp_path=tmp_path / "b",
    )  # fmt: skip
    assert '"retuned"' in stdout and record["resumed_at_steps"] == 256
    assert record["retuned"] == [{"steps": 256, "learning_rate": 1e-4, "clip_range": 0.1}]
    assert record["hyperparameters"]["learning_rate"] == 1e-4
    from agents.checkpoint import load_checkpoint

    model = load_checkpoint(folder)  # trained on at the new settings, and saved with them
    assert model.learning_rate == 1e-4 and model.clip_range(1.0) == 0.1
    assert all(g["lr"] == 1e-4 for g in model.policy.optimizer.param_groups)
    saved = json.loads((tmp_path / "ckpt" / "probe.json").read_text())
    assert saved["settings"]["hyper"]["learning_rate"] == 1e-4 and saved["retuned"]


def test_probe_rl_copy_gates_its_stop_rule_on_the_longest_length(tmp_path):
    common = ("--agent", "lstm", "--core-kwargs", '{"hidden_size": 8}', "--ladder", "2")
    common += ("--n-envs", "4", "--hyper", '{"n_steps": 32, "batch_size": 64}', "--eval", "2")
    common += ("--eval-episodes", "4", "--stop-success", "0", "--gate-length", "3")
    # stop success 0: the rule is met once 100 episodes end; an untrained policy never copies
    # 3 symbols, so the gate fails at every check and the run trains on to its budget
    _, record = run_script_json(
        "probe_rl_copy.py", *common, "--gate-accuracy", "1.0", "--budget", "1024",
        tmp_path=tmp_path / "a",
    )  # fmt: skip
    gates = record["gates"]
    assert len(gates) >= 2 and all(g["length"] == 3 and g["mean_return"] < 1.0 for g in gates)
    assert [g["steps"] for g in gates] == sorted(g["steps"] for g in gates)
    assert gates[1]["steps"] - gates[0]["steps"] >= 100 * 3  # a fresh window of 100 episodes
    assert record["steps_trained"] >= 1024
    assert record["gate_seed"] == 20_000 != record["eval_seed"]  # not the eval's episodes
    # a gate any policy passes: solved at the first check, long before the budget; on the
    # eval's seed the gate scores the final policy exactly as the eval does
    folder = str(tmp_path / "ckpt")
    _, record = run_script_json(
        "probe_rl_copy.py", *common, "--gate-accuracy", "0.0", "--budget", "100000",
        "--checkpoint", folder, "--eval", "2", "3", "--gate-seed", "10000",
        tmp_path=tmp_path / "b",
    )  # fmt: skip
    assert len(record["gates"]) == 1 and record["steps_trained"] == record["gates"][0]["steps"]
    assert record["gates"][0]["mean_return"] == record["eval"]["3"]["mean_return"]
    saved = json.loads((tmp_path / "ckpt" / "probe.json").read_text())
    assert saved["solved"] and saved["gates"] == record["gates"]
    # resumed with a gate it has not passed (another length): trains on, then checks it
    _, again = run_script_json(
        "probe_rl_copy.py", *common[:-1], "4", "--gate-accuracy", "0.0", "--budget", "100000",
        "--checkpoint", folder, tmp_path=tmp_path / "c",
    )  # fmt: skip
    assert [g["length"] for g in again["gates"]] == [3, 4]
    assert again["steps_trained"] > record["steps_trained"]
    # solved and resumed as it is: evaluated, not trained
    args = (*common[:-1], "4", "--gate-accuracy", "0.0", "--budget", "100000")
    args += ("--checkpoint", folder)
    _, same = run_script_json("probe_rl_copy.py", *args, tmp_path=tmp_path / "d")
    assert same["steps_trained"] == again["steps_trained"] and same["trained_on"] == []
    # --train-on: trains on at the last rung until a fresh stop window and a new gate pass
    _, more = run_script_json("probe_rl_copy.py", *args, "--train-on", tmp_path=tmp_path / "e")
    assert more["trained_on"] == [again["steps_trained"]]
    assert [g["length"] for g in more["gates"]] == [3, 4, 4]
    assert more["gates"][-1]["steps"] >= again["steps_trained"] + 100 * 2
    assert json.loads((tmp_path / "ckpt" / "probe.json").read_text())["trained_on"] == [
        again["steps_trained"]
    ]
    # bad values name the argument
    bad_args = (("--gate-length", "-1"), ("--gate-accuracy", "1.5"), ("--stop-success", "2"))
    for bad in (*bad_args, ("--train-on",)):
        proc = run(str(ROOT / "scripts" / "probe_rl_copy.py"), *bad, cwd=ROOT)
        assert proc.returncode != 0 and bad[0] in proc.stderr


def test_probe_rl_copy_trains_its_last_rung_at_the_final_hyperparameters(tmp_path):
    common = ("--agent", "lstm", "--core-kwargs", '{"hidden_size": 8}', "--ladder", "2", "3")
    common += ("--n-envs", "4", "--hyper", '{"n_steps": 32, "batch_size": 64}', "--eval", "2")
    common += ("--eval-episodes", "4", "--advance", "0.0", "--budget", "512")
    folder = tmp_path / "ckpt"
    final = '{"learning_rate": 0.0001, "target_kl": 0.05}'
    _, record = run_script_json(
        "probe_rl_copy.py", *common, "--final-hyper", final, "--checkpoint", str(folder),
        tmp_path=tmp_path / "a",
    )  # fmt: skip
    entered = record["curriculum"][1][1]  # the step rung 3 began at
    assert record["retuned"] == [
        {"steps": entered, "rung": 3, "learning_rate": 1e-4, "target_kl": 0.05}
    ]
    assert record["hyperparameters"]["learning_rate"] == 1e-3  # --hyper is the first rungs'
    from agents.checkpoint import load_checkpoint

    model = load_checkpoint(str(folder))
    assert model.learning_rate == 1e-4 and model.target_kl == 0.05
    assert all(g["lr"] == 1e-4 for g in model.policy.optimizer.param_groups)
    # part of the run's settings: another --final-hyper is another run
    proc = run(
        str(ROOT / "scripts" / "probe_rl_copy.py"), *common, "--checkpoint", str(folder),
        cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode != 0 and "final_hyper:" in proc.stderr
    proc = run(
        str(ROOT / "scripts" / "probe_rl_copy.py"), "--final-hyper", '{"gamma": 0.5}', cwd=ROOT
    )
    assert proc.returncode != 0 and "--final-hyper takes only" in proc.stderr


def test_probe_rl_copy_checks_its_gate_every_k_env_steps_at_the_last_rung(tmp_path):
    common = ("--agent", "lstm", "--core-kwargs", '{"hidden_size": 8}', "--ladder", "2")
    common += ("--n-envs", "4", "--hyper", '{"n_steps": 32, "batch_size": 64}', "--eval", "2")
    common += ("--eval-episodes", "4", "--gate-length", "3")
    # a stop rule an untrained policy never meets (100% success), a gate any policy passes:
    # only the periodic check can stop the run, at its first check after 256 env steps
    folder = str(tmp_path / "ckpt")
    _, record = run_script_json(
        "probe_rl_copy.py", *common, "--stop-success", "1.0", "--gate-accuracy", "0.0",
        "--gate-every", "256", "--budget", "100000", "--checkpoint", folder,
        tmp_path=tmp_path / "a",
    )  # fmt: skip
    (gate,) = record["gates"]
    assert gate["length"] == 3 and 256 <= gate["steps"] < 256 + 128  # the first rollout after
    assert record["steps_trained"] == gate["steps"] + 4  # stopped at the next step, untrained
    assert json.loads((tmp_path / "ckpt" / "probe.json").read_text())["solved"]
    # a gate no policy passes: checked every 256 env steps until the budget
    _, record = run_script_json(
        "probe_rl_copy.py", *common, "--stop-success", "1.0", "--gate-accuracy", "1.0",
        "--gate-every", "256", "--budget", "1024", tmp_path=tmp_path / "b",
    )  # fmt: skip
    steps = [g["steps"] for g in record["gates"]]
    gaps = [steps[i + 1] - steps[i] for i in range(len(steps) - 1)]
    assert len(steps) == 3 and all(256 <= gap < 256 + 128 for gap in gaps)
    proc = run(str(ROOT / "scripts" / "probe_rl_copy.py"), "--gate-every", "100", cwd=ROOT)
    assert (
        proc.returncode != 0 and "--gate-every must be >= 0 and needs --gate-length" in proc.stderr
    )

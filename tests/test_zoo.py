"""RL Baselines3 Zoo: memenvs ids train with ``rl_zoo3.train``, MemoryPPO as ``memory_ppo``.

The shipped hyperparameter files are checked without the zoo (each entry builds its model);
the zoo commands run in subprocesses on a tiny budget (slow: 15-30 s each) and skip where
rl_zoo3 is missing (it is an optional extra, ``pip install 'memenvs-agents[zoo]'``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import yaml

import memenvs  # noqa: F401
from agents.zoo import ALGO_NAME, HYPERPARAMS, conf_file
from agents.zoo.__main__ import zoo_argv

ROOT = Path(__file__).resolve().parents[1]
TINY = ["-n", "128", "--seed", "0", "--eval-freq", "-1", "-params", "n_envs:2", "n_steps:64"]


def algorithm(algo: str) -> type:
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO

    from agents.ppo import MemoryPPO

    return {"ppo": PPO, "ppo_lstm": RecurrentPPO, "memory_ppo": MemoryPPO}[algo]


def entries() -> list:
    out = []
    for algo in HYPERPARAMS:
        with open(conf_file(algo)) as f:
            for env_id, params in yaml.safe_load(f).items():
                out.append(pytest.param(algo, env_id, params, id=f"{algo}-{env_id}"))
    return out


@pytest.mark.parametrize("algo, env_id, params", entries())
def test_every_shipped_entry_builds_its_model(algo, env_id, params):
    """What the zoo does with an entry: eval policy_kwargs, drop its own keys, build."""
    from stable_baselines3.common.env_util import make_vec_env

    kwargs = dict(params)
    n_envs, n_timesteps = kwargs.pop("n_envs"), kwargs.pop("n_timesteps")
    assert n_envs >= 1 and n_timesteps > 0
    if isinstance(kwargs.get("policy_kwargs"), str):
        kwargs["policy_kwargs"] = eval(kwargs["policy_kwargs"])  # the zoo's own rule
    env_id = "memenvs/DelayedRecall-v0" if env_id == "default" else env_id
    assert env_id in gym.registry
    model = algorithm(algo)(env=make_vec_env(env_id, n_envs=n_envs), device="cpu", **kwargs)
    assert model.n_steps == params["n_steps"] and model.n_envs == n_envs


def test_files_are_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"zoo/*.yml"' in text
    for algo in HYPERPARAMS:
        assert conf_file(algo).is_file()
    with pytest.raises(ValueError, match="known"):
        conf_file("sac")


def test_launcher_defaults_the_conf_file_only_for_train_without_one():
    argv = zoo_argv("train", ["--algo", "memory_ppo", "--env", "x"])
    assert argv[0] == "rl_zoo3.train" and argv[-2:] == ["--conf-file", str(conf_file(ALGO_NAME))]
    assert zoo_argv("train", ["--env", "x"])[-1] == str(conf_file("ppo"))  # the zoo's default
    assert zoo_argv("train", ["--algo=ppo_lstm"])[-1] == str(conf_file("ppo_lstm"))
    assert "--conf-file" not in zoo_argv("train", ["--algo", "sac"])
    assert zoo_argv("train", ["--algo", "ppo", "-conf", "my.yml"]).count("-conf") == 1
    assert zoo_argv("train", ["--conf-file=my.yml"]) == ["rl_zoo3.train", "--conf-file=my.yml"]
    assert zoo_argv("enjoy", ["--algo", "ppo"]) == ["rl_zoo3.enjoy", "--algo", "ppo"]


@pytest.mark.parametrize("flag", ["-optimize", "--optimize-hyperparameters"])
def test_optimize_for_memory_ppo_is_refused_with_a_pointer_to_tune(flag, capsys):
    """The zoo has no sampler for memory_ppo: its -optimize ended in a KeyError traceback."""
    from agents.zoo.__main__ import main

    assert main(["train", "--algo", "memory_ppo", "--env", "x", flag]) == 2
    assert "benchmark.py --tune" in capsys.readouterr().err


def test_register_adds_memory_ppo_once():
    rl_zoo3 = pytest.importorskip("rl_zoo3", reason="pip install 'memenvs-agents[zoo]'")
    from agents.ppo import MemoryPPO
    from agents.zoo import register

    algos = register()
    assert algos is rl_zoo3.ALGOS and algos[ALGO_NAME] is MemoryPPO
    assert register() is algos and list(algos).count(ALGO_NAME) == 1


def zoo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.mark.slow  # 15-30 s: a zoo subprocess imports torch, SB3 and the hub
def test_rl_zoo3_trains_ppo_on_a_memenvs_id(tmp_path):
    pytest.importorskip("rl_zoo3", reason="pip install 'memenvs-agents[zoo]'")
    env = "memenvs/DelayedRecall-Easy-v0"
    zoo(tmp_path, "rl_zoo3.train", "--algo", "ppo", "--env", env, "--gym-packages", "memenvs",
        "--conf-file", str(conf_file("ppo")), "-f", "logs", *TINY)  # fmt: skip
    from stable_baselines3 import PPO

    run = tmp_path / "logs" / "ppo" / "memenvs-DelayedRecall-Easy-v0_1"
    assert PPO.load(run / "memenvs-DelayedRecall-Easy-v0.zip").num_timesteps >= 128


@pytest.mark.slow  # 15-30 s: a zoo subprocess imports torch, SB3 and the hub
def test_memory_ppo_trains_and_enjoys_through_the_zoo(tmp_path):
    pytest.importorskip("rl_zoo3", reason="pip install 'memenvs-agents[zoo]'")
    env = "memenvs/DelayedRecall-Easy-v0"
    common = ["--algo", ALGO_NAME, "--env", env, "-f", "logs"]
    zoo(tmp_path, "agents.zoo", "train", *common, *TINY)
    from agents.ppo import MemoryPPO

    run = tmp_path / "logs" / ALGO_NAME / "memenvs-DelayedRecall-Easy-v0_1"
    model = MemoryPPO.load(run / "memenvs-DelayedRecall-Easy-v0.zip", device="cpu")
    assert model.num_timesteps >= 128 and model.n_envs == 2
    assert (run / "memenvs-DelayedRecall-Easy-v0" / "config.yml").is_file()
    proc = zoo(tmp_path, "agents.zoo", "enjoy", *common, "-n", "30", "--no-render")
    assert "Episodes" in proc.stdout and "Mean reward" in proc.stdout

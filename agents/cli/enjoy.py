"""memenvs-enjoy: show one episode of a run's agent as text, with its memory heatmap.

    memenvs-enjoy runs/<run> [--model best] [--png heat.png]

Env id, knobs and agent come from the run folder's config.json. Prints the ansi render of
each step, the action and reward, then a time x slot heatmap of the core's read and write
weightings (for memory cores that trace them, e.g. the NTM); ``--png FILE`` also saves the
heatmaps as images (needs matplotlib).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from agents.cli.common import (
    add_run_arguments,
    check_device_flag,
    check_model_fits,
    env_errors,
    flag_errors,
)
from agents.ppo import MemoryPPO
from agents.training import load_run

SHADES = " .:-=+*#%@"


def heatmap_text(weights: np.ndarray, max_slots: int = 64) -> str:
    """``[T, N]`` weights as rows of characters (one row per step, darker = more weight)."""
    used = np.argsort(-weights.sum(0))[:max_slots]
    used.sort()
    scaled = weights[:, used] / max(float(weights.max()), 1e-9)  # darkest = the largest weight
    levels = np.clip((scaled * (len(SHADES) - 1)).round().astype(int), 0, len(SHADES) - 1)
    header = f"slots {used.min()}..{used.max()} ({len(used)} most used of {weights.shape[1]})"
    return "\n".join(
        [header]
        + [f"t={t:4d} |" + "".join(SHADES[v] for v in row) + "|" for t, row in enumerate(levels)]
    )


def play_episode(model, env: gym.Env, seed: int, deterministic: bool, show=print):
    """One episode; returns ``(return, info, steps, trace)`` where ``trace`` maps a memory
    core's traced names to per-step tensors (empty for non-MemoryPPO agents)."""
    obs, _ = env.reset(seed=seed)
    trace: dict[str, list[torch.Tensor]] = {}
    state, start, total, t = None, np.ones(1, dtype=bool), 0.0, 0
    memory = isinstance(model, MemoryPPO)
    if memory:
        state = model.policy.initial_state(1)
    while True:
        if env.render_mode == "ansi":
            show(env.render())
        if memory:
            obs_t, _ = model.policy.obs_to_tensor(obs)
            with torch.no_grad():
                starts = torch.as_tensor(start)
                action, _, _, state, _ = model.policy(obs_t, state, starts, deterministic, trace)
            action = action.cpu().numpy()[0]
        else:
            action, state = model.predict(
                obs, state=state, episode_start=start, deterministic=deterministic
            )
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        show(f"  action={action} reward={reward:+.3f}")
        start, t = np.zeros(1, dtype=bool), t + 1
        if terminated or truncated:
            return total, info, t, trace


def check_writable(png: str) -> None:
    """``OSError`` unless files can be created in the folder of ``png`` (where its heatmaps
    go): it must exist and take a nameless temporary file, so the check leaves none behind.
    ``ImportError`` naming the extra to install if matplotlib, which draws them, is missing."""
    from agents.plots import require_matplotlib

    require_matplotlib("the heatmap images", without="")
    folder = Path(png).parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise NotADirectoryError(f"its folder {folder} {what}")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OSError(f"cannot write to its folder {folder} ({err.strerror or err})") from None


def save_png(weights: np.ndarray, name: str, png: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    ax.imshow(weights.T, aspect="auto", cmap="gray_r", interpolation="nearest")
    ax.set_xlabel("time step")
    ax.set_ylabel("memory slot")
    ax.set_title(name)
    out = str(Path(png).with_name(f"{Path(png).stem}_{name}.png"))
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="memenvs-enjoy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser)
    parser.add_argument("--png", default="", help="also save the heatmaps to FILE_<name>.png")
    args = parser.parse_args(argv)
    check_device_flag(parser, args.device)
    if args.png:  # before the episode, not after it
        with flag_errors(parser, f"--png {args.png}", OSError, ImportError):
            check_writable(args.png)
    try:
        config, model = load_run(args.run, args.model, args.device)
    except ValueError as err:
        parser.error(str(err))
    env_kwargs = {**config.env_kwargs, **args.env_kwargs}
    with env_errors(parser, config.env, "the run's env"):
        env = gym.make(config.env, **env_kwargs)
    check_model_fits(parser, env, model)
    if "ansi" in env.metadata.get("render_modes", []):
        env = gym.make(config.env, render_mode="ansi", **env_kwargs)
    total, info, steps, trace = play_episode(model, env, args.seed, not args.stochastic)
    print(f"\n{config.env} {env_kwargs} agent {config.agent} ({args.model} model)")
    print(f"return {total:.3f}  success {info.get('success')}  steps {steps}")
    for name, per_step in trace.items():
        w = torch.stack(per_step)[:, 0, 0].numpy()  # [T, N], first head
        print(f"\n{name} (head 0):\n{heatmap_text(w)}")
        if args.png:
            with flag_errors(parser, f"--png {args.png}", OSError):
                print(f"saved {save_png(w, name, args.png)}")
    if not trace:
        print("\n(this agent records no memory weightings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

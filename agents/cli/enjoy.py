"""memenvs-enjoy: show one episode of a run's agent as text, with its memory heatmap.

    memenvs-enjoy runs/<run> [--model best] [--png heat.png]

Env id, knobs and agent come from the run folder's config.json. Prints the ansi render of
each step, the action and reward, then what the core traced of its memory: a time x slot
heatmap of each read and write weighting (the NTM) or a per-step bar chart of each traced
value (the episodic core's mean read age, visible entries, read entropy); ``--png FILE``
also saves them as images (needs matplotlib).
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
                starts = torch.as_tensor(start, device=model.policy.device)
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


def series_text(values: np.ndarray, width: int = 40) -> str:
    """``[T]`` per-step values as rows of a bar chart (one row per step, bars from the
    smallest value to the largest)."""
    lo, hi = float(values.min()), float(values.max())
    bars = np.zeros(len(values), dtype=int)
    if hi > lo:
        bars = ((values - lo) / (hi - lo) * width).round().astype(int)
    header = f"min {lo:.4g}  max {hi:.4g}"
    return "\n".join(
        [header]
        + [
            f"t={t:4d} |{'#' * n:<{width}}| {v:.4g}"
            for t, (n, v) in enumerate(zip(bars, values, strict=True))
        ]
    )


def first_env(stacked: torch.Tensor) -> np.ndarray:
    """A traced quantity of env 0: ``[T, N]`` weightings (the first head of ``[T, B, H, N]``)
    or ``[T]`` per-step values (of ``[T, B]``, e.g. the episodic core's mean read age)."""
    x = stacked[:, 0].float().cpu()
    while x.dim() > 2:
        x = x[:, 0]
    return x.numpy()


def trace_text(values: np.ndarray) -> str:
    """A weighting as a heatmap, a per-step value as a bar chart."""
    return heatmap_text(values) if values.ndim == 2 else series_text(values)


def save_png(values: np.ndarray, name: str, png: str) -> str:
    """Save ``[T, N]`` weightings as a heatmap or ``[T]`` values as a line plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    if values.ndim == 2:
        ax.imshow(values.T, aspect="auto", cmap="gray_r", interpolation="nearest")
        ax.set_ylabel("memory slot")
    else:
        ax.plot(values)
        ax.set_ylabel(name)
    ax.set_xlabel("time step")
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
        stacked = torch.stack(per_step)
        values = first_env(stacked)
        head = " (head 0)" if stacked.dim() > 3 else ""
        print(f"\n{name}{head}:\n{trace_text(values)}")
        if args.png:
            with flag_errors(parser, f"--png {args.png}", OSError):
                print(f"saved {save_png(values, name, args.png)}")
    if not trace:
        print("\n(this agent traces nothing of its memory)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

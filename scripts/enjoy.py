"""Load a saved MemoryPPO model and show one episode as text, with its memory heatmap.

    python scripts/enjoy.py runs/<run>/model.zip --env memenvs/DelayedRecall-Easy-v0

Prints the ansi render of each step, the action and reward, then a time x slot heatmap of
the core's read and write weightings (for cores that trace them, e.g. the NTM);
``--png FILE`` also saves the heatmap as an image.
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import torch

import memenvs  # noqa: F401
from agents import MemoryPPO

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="path to a saved MemoryPPO model (.zip)")
    parser.add_argument("--env", default="memenvs/DelayedRecall-Easy-v0", help="Gymnasium id")
    parser.add_argument("--env-kwargs", default="{}", help="JSON dict of env knobs")
    parser.add_argument("--seed", type=int, default=0, help="episode seed")
    parser.add_argument(
        "--stochastic", action="store_true", help="sample actions instead of argmax"
    )
    parser.add_argument("--png", default="", help="also save the heatmap to this PNG file")
    args = parser.parse_args(argv)

    model = MemoryPPO.load(args.model, device="cpu")
    env = gym.make(args.env, render_mode="ansi", **json.loads(args.env_kwargs))
    obs, _ = env.reset(seed=args.seed)
    policy = model.policy
    state = policy.initial_state(1)
    start = torch.ones(1, dtype=torch.bool)
    trace: dict[str, list[torch.Tensor]] = {}
    total, t = 0.0, 0
    while True:
        print(env.render())
        obs_t, _ = policy.obs_to_tensor(obs)
        with torch.no_grad():
            action, _, _, state, _ = policy(obs_t, state, start, not args.stochastic, trace)
        action = action.cpu().numpy()[0]
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        print(f"  action={action} reward={reward:+.3f}")
        start = torch.zeros(1, dtype=torch.bool)
        t += 1
        if terminated or truncated:
            break
    print(f"\nreturn {total:.3f}  success {info.get('success')}  steps {t}")
    for name, steps in trace.items():
        w = torch.stack(steps)[:, 0, 0].numpy()  # [T, N], first head
        print(f"\n{name} (head 0):\n{heatmap_text(w)}")
        if args.png:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(8, 3))
            ax.imshow(w.T, aspect="auto", cmap="gray_r", interpolation="nearest")
            ax.set_xlabel("time step")
            ax.set_ylabel("memory slot")
            ax.set_title(name)
            out = args.png.replace(".png", f"_{name}.png")
            fig.savefig(out, dpi=100, bbox_inches="tight")
            print(f"saved {out}")
    if not trace:
        print("\n(this core records no memory weightings)")


if __name__ == "__main__":
    main()

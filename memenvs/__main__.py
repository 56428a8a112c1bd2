"""The ``memenvs`` command line: list the tasks, play one in the terminal, score a policy.

    python -m memenvs list [--markdown]
    python -m memenvs play <id> [--seed S] [--kw key=value ...]
    python -m memenvs rollout <id> --policy random|oracle --episodes N [--seed S] [--kw ...]

``--kw`` values are Python literals where they parse (``delay=100``, ``delay=(5,10)``,
``noise=True``) and strings otherwise. Bad ids or knobs exit with code 2 and a one-line
message. Needs only numpy and gymnasium.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import memenvs  # noqa: F401  (registers the ids)
from memenvs.core import MAX_KNOB
from memenvs.evaluate import POLICIES, evaluate
from memenvs.registry import TASKS, configurations_markdown, entry_for

PROG = "memenvs"


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


# ------------------------------------------------------------------------------ helpers
def parse_kw(items: Sequence[str] | None) -> dict[str, Any]:
    """``["delay=100", "noise=True", "name=abc"]`` -> ``{"delay": 100, "noise": True, ...}``."""
    knobs: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CLIError(f"--kw expects key=value, got {item!r}")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = text
        knobs[key] = value
    return knobs


def check_knobs(env_id: str, knobs: dict[str, Any]) -> None:
    """Fail with a one-line message for unregistered ids and unknown knob names."""
    try:
        entry = entry_for(env_id)
    except ValueError:
        raise CLIError(
            f"{env_id!r} is not a registered memenvs id (see `python -m {PROG} list`)"
        ) from None
    known = entry.knobs()
    unknown = [k for k in knobs if k not in known]
    if unknown:
        raise CLIError(
            f"unknown knob {unknown[0]!r} for {env_id}; its knobs are: {', '.join(known)}"
        )


def build(factory: Callable[[], Any]) -> Any:
    """Construct an env, turning the task's ValueError (bad knob value) into a CLIError."""
    try:
        return factory()
    except (ValueError, TypeError) as err:
        raise CLIError(str(err).splitlines()[0] if str(err) else repr(err)) from None


def format_obs(obs: Any) -> str:
    arr = np.asarray(obs)
    if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    return np.array2string(arr, separator=" ", precision=3, max_line_width=120, threshold=4096)


def describe_space(space: spaces.Space) -> str:
    if isinstance(space, spaces.Discrete):
        return f"one integer in [{space.start}, {space.start + space.n - 1}]"
    if isinstance(space, spaces.MultiDiscrete):
        low = np.asarray(space.start).reshape(-1)
        high = (low + np.asarray(space.nvec).reshape(-1) - 1).tolist()
        ranges = ", ".join(f"[{lo}, {hi}]" for lo, hi in zip(low.tolist(), high, strict=True))
        return f"{low.size} space-separated integers in {ranges}"
    if isinstance(space, spaces.MultiBinary):
        return f"{int(np.prod(space.shape))} space-separated bits (0 or 1)"
    return str(space)


def parse_action(text: str, space: spaces.Space) -> Any:
    """The action typed as ``text``, or None when it is not a valid action of ``space``."""
    try:
        values = [int(tok) for tok in text.replace(",", " ").split()]
    except ValueError:
        return None
    if any(abs(v) >= 2**63 for v in values):  # numpy's int64 would raise OverflowError
        return None
    if isinstance(space, spaces.Discrete):
        if len(values) != 1:
            return None
        action = np.int64(values[0])
        return int(action) if space.contains(action) else None
    if isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary)):
        if len(values) != int(np.prod(space.shape)):
            return None
        action = np.asarray(values, dtype=space.dtype).reshape(space.shape)
        return action if space.contains(action) else None
    return None


def read_action(space: spaces.Space, out) -> Any:
    """Prompt until a valid action is typed; None for 'q' or end of input."""
    prompt = f"action ({describe_space(space)}, q quits)> "
    while True:
        out.write(prompt)
        out.flush()
        line = sys.stdin.readline()
        if not line:  # EOF
            out.write("\n")
            return None
        text = line.strip()
        if not sys.stdin.isatty():  # echo piped input so the transcript reads naturally
            out.write(text + "\n")
        if text.lower() in ("q", "quit", "exit"):
            return None
        action = parse_action(text, space)
        if action is not None:
            return action
        out.write(f"invalid action {text!r}: enter {describe_space(space)}\n")


# ----------------------------------------------------------------------------- commands
def cmd_list(args: argparse.Namespace) -> int:
    if args.markdown:
        print(configurations_markdown())
        return 0
    rows: list[tuple[str, str]] = []
    for entry in TASKS:
        try:
            defaults = entry.knobs()
        except ImportError as err:
            for env_id in entry.configurations():
                rows.append((env_id, f"(unavailable: {err})"))
            continue
        for env_id, preset in entry.configurations().items():
            knobs = {**defaults, **preset}
            rows.append((env_id, ", ".join(f"{k}={v!r}" for k, v in knobs.items())))
    width = max(len(r[0]) for r in rows)
    print(f"{'id':<{width}}  knobs (defaults)")
    print(f"{'-' * width}  {'-' * 16}")
    for env_id, text in rows:
        print(f"{env_id:<{width}}  {text}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    knobs = parse_kw(args.kw)
    check_knobs(args.id, knobs)
    env = build(lambda: gym.make(args.id, render_mode="ansi", **knobs))
    out = sys.stdout
    try:
        obs, _ = env.reset(seed=args.seed)
        print(f"{args.id}  (seed={args.seed}, knobs={knobs or 'defaults'})")
        print(f"actions: {describe_space(env.action_space)}; type q to quit")
        total, t = 0.0, 0
        while True:
            print(f"\n--- step {t}")
            print(env.render())
            print(f"obs: {format_obs(obs)}")
            action = read_action(env.action_space, out)
            if action is None:
                print(f"quit after {t} steps; return so far {total:g}")
                return 0
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            t += 1
            print(f"reward: {float(reward):g}")
            if terminated or truncated:
                print(env.render())
                success = info.get("success")
                print(f"episode over after {t} steps: return {total:g}, success {success}")
                return 0
    finally:
        env.close()


def cmd_rollout(args: argparse.Namespace) -> int:
    knobs = parse_kw(args.kw)
    check_knobs(args.id, knobs)
    if not 1 <= args.episodes <= MAX_KNOB:  # 10**20 ran until killed, 10**25 overflowed
        raise CLIError(f"--episodes must be in [1, {MAX_KNOB}], got {args.episodes}")
    result = build(lambda: evaluate(args.id, args.policy, args.episodes, args.seed, **knobs))
    print(
        f"{args.id}  policy={args.policy}  episodes={result['episodes']}  seed={args.seed}"
        f"  knobs={knobs or 'defaults'}"
    )
    print(f"mean return:  {result['mean_return']:.4f}")
    print(f"std return:   {result['std_return']:.4f}")
    print(f"success rate: {result['success_rate']:.3f}")
    print(
        f"mean length:  {result['mean_length']:.1f} steps"
        f"  ({result['env_steps']} env steps in {result['seconds']:.2f} s)"
    )
    return 0


# --------------------------------------------------------------------------------- main
def seed_arg(text: str) -> int:
    """``--seed``: an integer >= 0 (what ``env.reset(seed=...)`` takes)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="memenvs: Gymnasium memory tasks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("list", help="every registered id with its knobs and defaults")
    p.add_argument("--markdown", action="store_true", help="print the Markdown table")
    p.set_defaults(func=cmd_list)

    kw_help = "knob overrides, e.g. --kw delay=100 noise=True (repeatable)"
    p = sub.add_parser("play", help="play an episode in the terminal")
    p.add_argument("id", help="a registered id, e.g. memenvs/DelayedRecall-v0")
    p.add_argument("--seed", type=seed_arg, default=None)
    p.add_argument("--kw", nargs="+", action="extend", metavar="KEY=VALUE", help=kw_help)
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("rollout", help="score a random or oracle policy")
    p.add_argument("id", help="a registered id, e.g. memenvs/DelayedRecall-v0")
    p.add_argument("--policy", choices=POLICIES, default="random")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=seed_arg, default=0)
    p.add_argument("--kw", nargs="+", action="extend", metavar="KEY=VALUE", help=kw_help)
    p.set_defaults(func=cmd_rollout)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

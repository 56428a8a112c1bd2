"""``python -m agents.zoo {train,enjoy} [zoo arguments]``: an rl_zoo3 command with MemoryPPO.

Registers ``memory_ppo`` in ``rl_zoo3.ALGOS`` (:func:`agents.zoo.register`), imports memenvs
(no ``--gym-packages memenvs`` needed) and, for ``train`` without ``--conf-file``, passes the
hyperparameter file shipped here for ``--algo`` (``ppo``, ``ppo_lstm``, ``memory_ppo``).
Every other argument goes to the zoo unchanged, e.g.::

    python -m agents.zoo train --algo memory_ppo --env memenvs/DelayedRecall-Easy-v0 -n 4096
    python -m agents.zoo enjoy --algo memory_ppo --env memenvs/DelayedRecall-Easy-v0 -f logs
"""

from __future__ import annotations

import sys

from agents.zoo import HYPERPARAMS, conf_file, register

COMMANDS = ("train", "enjoy")


def algo_of(args: list[str]) -> str:
    """The ``--algo`` given in ``args`` (the zoo's default: ``ppo``)."""
    algo = "ppo"
    for i, a in enumerate(args):
        if a == "--algo" and i + 1 < len(args):
            algo = args[i + 1]
        elif a.startswith("--algo="):
            algo = a.split("=", 1)[1]
    return algo


def zoo_argv(command: str, args: list[str]) -> list[str]:
    """The argument list for the zoo's ``command``: ``args`` plus the default conf file."""
    given = any(a in ("-conf", "--conf-file") or a.startswith("--conf-file=") for a in args)
    algo = algo_of(args)
    if command == "train" and not given and algo in HYPERPARAMS:
        args = [*args, "--conf-file", str(conf_file(algo))]
    return [f"rl_zoo3.{command}", *args]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m agents.zoo {{{','.join(COMMANDS)}}} [rl_zoo3 arguments]")
        return 2
    optimize = any(a in ("-optimize", "--optimize-hyperparameters") for a in argv[1:])
    if argv[0] == "train" and optimize and algo_of(argv[1:]) == "memory_ppo":
        # the zoo would end in a KeyError from its table of samplers
        print(
            "python -m agents.zoo: error: the zoo's -optimize has no sampler for memory_ppo; "
            "search MemoryPPO's hyperparameters with `python scripts/benchmark.py --tune`",
            file=sys.stderr,
        )
        return 2
    register()
    import memenvs  # noqa: F401  (registers the ids)

    sys.argv = zoo_argv(argv[0], argv[1:])
    if argv[0] == "train":
        from rl_zoo3.train import train

        train()
    else:
        from rl_zoo3.enjoy import enjoy

        enjoy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

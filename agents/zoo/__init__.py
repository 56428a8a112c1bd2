"""RL Baselines3 Zoo (``rl_zoo3``) for memenvs tasks and MemoryPPO.

The zoo runs any SB3 algorithm on any registered Gymnasium id, memenvs included::

    python -m rl_zoo3.train --algo ppo --env memenvs/DelayedRecall-Easy-v0 \\
        --gym-packages memenvs --conf-file <this package>/ppo.yml

It picks algorithms from a fixed dict, ``rl_zoo3.ALGOS``; :func:`register` adds
:class:`agents.ppo.MemoryPPO` to it as ``memory_ppo``, and ``python -m agents.zoo`` runs a zoo
command (``train``, ``enjoy``) after registering, with memenvs imported and this package's
hyperparameter file for the algorithm as the default ``--conf-file``. The files are
:data:`HYPERPARAMS` (``ppo``, ``ppo_lstm``, ``memory_ppo``): one entry per memenvs id tuned
here plus a ``default`` for every other id. rl_zoo3 is optional: ``pip install
'memenvs-agents[zoo]'``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: Zoo algorithm name -> the hyperparameter file shipped in this package.
HYPERPARAMS = {"ppo": "ppo.yml", "ppo_lstm": "ppo_lstm.yml", "memory_ppo": "memory_ppo.yml"}
#: The name MemoryPPO gets in ``rl_zoo3.ALGOS``.
ALGO_NAME = "memory_ppo"


def conf_file(algo: str) -> Path:
    """Path of the shipped hyperparameter file for zoo algorithm ``algo``."""
    if algo not in HYPERPARAMS:
        known = sorted(HYPERPARAMS)
        raise ValueError(f"no memenvs hyperparameter file for algo {algo!r}; known: {known}")
    return Path(str(resources.files(__name__).joinpath(HYPERPARAMS[algo])))


def register() -> dict[str, type]:
    """Add MemoryPPO to ``rl_zoo3.ALGOS`` as ``memory_ppo`` (idempotent); return ALGOS.

    Call before the zoo builds its command line: ``--algo`` choices are read from ALGOS then.
    Raises ImportError naming the extra if rl_zoo3 is not installed.
    """
    try:
        from rl_zoo3 import utils
    except ImportError as err:
        raise ImportError(
            "RL Baselines3 Zoo is not installed: pip install 'memenvs-agents[zoo]' "
            "(or pip install rl_zoo3)"
        ) from err
    from agents.ppo import MemoryPPO

    utils.ALGOS.setdefault(ALGO_NAME, MemoryPPO)
    return utils.ALGOS

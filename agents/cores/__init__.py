"""Memory cores: one protocol (:class:`MemoryCore`), interchangeable implementations."""

from agents.cores.base import CoreExtras, Diagnostics, MemoryCore, StepCore, StepOutput
from agents.cores.episodic import EpisodicMemoryCore, EpisodicState
from agents.cores.ntm import NTMCore, NTMState
from agents.cores.rnn import GRUCore, GRUState, LSTMCore, LSTMState
from agents.cores.state import State, cat_rows, detach, index_rows, reset_where, tree_map

__all__ = [
    "CoreExtras",
    "Diagnostics",
    "EpisodicMemoryCore",
    "EpisodicState",
    "GRUCore",
    "GRUState",
    "LSTMCore",
    "LSTMState",
    "MemoryCore",
    "NTMCore",
    "NTMState",
    "State",
    "StepCore",
    "StepOutput",
    "cat_rows",
    "detach",
    "index_rows",
    "reset_where",
    "tree_map",
]

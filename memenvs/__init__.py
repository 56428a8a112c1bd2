"""memenvs: a Gymnasium suite of long-delay memory tasks.

``import memenvs`` registers every task as ``memenvs/<Task>-v0`` (plus ``-Easy-``,
``-Medium-``, ``-Hard-`` presets); ``gymnasium.make("memenvs:memenvs/<Task>-v0")`` does the
import for you. Needs only numpy and gymnasium.
"""

from memenvs.core import MemoryEnv, MemoryVectorEnv, Task
from memenvs.registry import TASKS, all_ids, register_all
from memenvs.wrappers import ExternalMemory, ExternalMemoryVector

__all__ = [
    "TASKS",
    "ExternalMemory",
    "ExternalMemoryVector",
    "MemoryEnv",
    "MemoryVectorEnv",
    "Task",
    "all_ids",
    "register_all",
]
__version__ = "0.1.0"

register_all()

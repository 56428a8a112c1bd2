"""agents: memory-augmented RL agents on stable-baselines3 conventions.

``MemoryPPO("MlpNTMPolicy", env)`` trains a recurrent PPO policy around any memory core
(:class:`LSTMCore`, :class:`GRUCore`, :class:`NTMCore`, ...).
"""

from agents.cores import CoreExtras, EpisodicMemoryCore, GRUCore, LSTMCore, MemoryCore, NTMCore
from agents.policies import MemoryActorCriticPolicy
from agents.ppo import MemoryPPO
from agents.vec_env import NativeVecEnv, make_vec_env

__all__ = [
    "CoreExtras",
    "EpisodicMemoryCore",
    "GRUCore",
    "LSTMCore",
    "MemoryActorCriticPolicy",
    "MemoryCore",
    "MemoryPPO",
    "NTMCore",
    "NativeVecEnv",
    "make_vec_env",
]
